// The OpenBao transport (node:https, http-transport.ts) and TLS trust: a given CA is the only
// one trusted (BAO_CACERT semantics), else Node's store. Through a probe child process, since
// NODE_EXTRA_CA_CERTS is read at start.
import t from 'tap'
import {execFile} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {createServer as createTlsServer} from 'node:https'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'
import {generateServingPki} from '../../../runtime/operator/pki.js'

t.test('TLS: a given CA is the only one trusted (BAO_CACERT semantics), else Node\'s store', async (t) => {
  const [server, other] = await Promise.all([generateServingPki(['127.0.0.1']), generateServingPki(['127.0.0.1'])])
  const dir = mkdtempSync(join(tmpdir(), 'ct-h1-tls-'))
  t.teardown(() => rmSync(dir, {recursive: true, force: true}))
  const serverCa = join(dir, 'server-ca.pem')
  const otherCa = join(dir, 'other-ca.pem')
  writeFileSync(serverCa, server.caPem)
  writeFileSync(otherCa, other.caPem)
  const s = createTlsServer({cert: server.certPem, key: server.keyPem}, (_req, res) => res.end('ok'))
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((r) => s.close(r)))
  const url = `https://127.0.0.1:${(s.address() as AddressInfo).port}/v1/sys/health`
  const tsLoader = process.execArgv.find((a) => a.includes('@tapjs/typescript'))!
  const probe = fileURLToPath(new URL('./tls-trust-probe.ts', import.meta.url))
  // The server's CA is in Node's own store here (NODE_EXTRA_CA_CERTS), as a public CA would be.
  // Async: the server answering lives in this process.
  for (const kind of ['http']) {
    const run = async (...args: string[]) =>
      JSON.parse((await promisify(execFile)(process.execPath, [tsLoader, probe, kind, url, ...args], {env: {...process.env, NODE_EXTRA_CA_CERTS: serverCa}})).stdout) as {status?: number; code?: string}
    t.match(await run(), {status: 200}, `${kind}: no CA given: Node's store decides`)
    t.match(await run(serverCa), {status: 200}, `${kind}: the given CA signed the server`)
    t.match(await run(otherCa), {code: /CERT|SIGNATURE|UNABLE/}, `${kind}: another CA given: refused, although Node's store would accept the server`)
  }
})
