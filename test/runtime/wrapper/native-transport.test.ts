// The addon's blocking HTTP exchange (native/http.c) behind NativeTransport, the wrapper's
// transport until the app starts. The exchange blocks its process, so each request runs in a
// probe child (test/lib/openbao/tls-trust-probe.ts) while the servers live here.
import t from 'tap'
import {execFile} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import {createServer as createHttpsServer} from 'node:https'
import type {AddressInfo} from 'node:net'
import {createServer as createTlsServer} from 'node:tls'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'
import {generateServingPki} from '../../../runtime/operator/pki.js'
import {buildAddon} from './helpers.js'

const addon = buildAddon()
const dir = mkdtempSync(join(tmpdir(), 'ct-native-http-'))
t.teardown(() => {
  rmSync(addon.dir, {recursive: true, force: true})
  rmSync(dir, {recursive: true, force: true})
})
const tsLoader = process.execArgv.find((a) => a.includes('@tapjs/typescript'))!
const probe = fileURLToPath(new URL('../../lib/openbao/tls-trust-probe.ts', import.meta.url))
type Out = {status?: number; bytes?: number; head?: string; code?: string; message?: string}
const run = async (url: string, opts: {ca?: string; method?: string; body?: string; timeoutMs?: number} = {}): Promise<Out> =>
  JSON.parse(
    (
      await promisify(execFile)(process.execPath, [tsLoader, probe, 'native', url, opts.ca ?? '', opts.method ?? 'GET', ...(opts.body ? [opts.body] : [])], {
        env: {...process.env, CLOUDTASER_NATIVE_ADDON: addon.path, PROBE_TIMEOUT_MS: String(opts.timeoutMs ?? 5000)},
      })
    ).stdout,
  ) as Out
const listen = async (s: Server | ReturnType<typeof createTlsServer>, host = '127.0.0.1') => {
  await new Promise<void>((resolve) => s.listen(0, host, resolve))
  t.teardown(() => new Promise((r) => s.close(r)))
  return (s.address() as AddressInfo).port
}
const file = (name: string, text: string) => {
  writeFileSync(join(dir, name), text)
  return join(dir, name)
}

t.test('plain HTTP: connection: close asked, a POST body sent, a 1 MB chunked answer read whole', async (t) => {
  const seen: Record<string, string | undefined>[] = []
  const port = await listen(
    createServer(async (req, res) => {
      let n = 0
      for await (const c of req) n += (c as Buffer).length
      seen.push({connection: req.headers.connection, probe: req.headers['x-probe'] as string, length: String(n)})
      if (req.url === '/big') {
        for (let i = 0; i < 64; i++) res.write(Buffer.alloc(16384, 'a'))
        return res.end()
      }
      res.end(`got ${n}`)
    }),
  )
  t.match(await run(`http://127.0.0.1:${port}/x`, {method: 'POST', body: '{"jwt":"é"}'}), {status: 200, head: 'got 12'})
  t.match(seen[0], {connection: 'close', probe: '1', length: '12'})
  t.match(await run(`http://127.0.0.1:${port}/big`), {status: 200, bytes: 1 << 20})
})

t.test('connection errors carry the codes the client retries on', async (t) => {
  t.match(await run('http://127.0.0.1:1/'), {code: 'ECONNREFUSED'})
  const port = await listen(createServer(() => undefined))
  t.match(await run(`http://127.0.0.1:${port}/hang`, {timeoutMs: 300}), {code: 'ETIMEDOUT'})
  t.match(await run('http://no-such-host.invalid/'), {code: /ENOTFOUND|EAI_AGAIN/})
})

t.test('TLS: the given CA only, the name or IP checked, truncation refused', async (t) => {
  const [pki, other, elsewhere] = await Promise.all([generateServingPki(['127.0.0.1', 'localhost']), generateServingPki(['127.0.0.1']), generateServingPki(['127.0.0.2'])])
  const ca = file('ca.pem', pki.caPem)
  const otherCa = file('other.pem', other.caPem)
  const elsewhereCa = file('elsewhere.pem', elsewhere.caPem)
  const port = await listen(createHttpsServer({cert: pki.certPem, key: pki.keyPem}, (_req, res) => res.end('ok over tls')))
  t.match(await run(`https://127.0.0.1:${port}/`, {ca}), {status: 200, head: 'ok over tls'}, 'by IP')
  t.match(await run(`https://localhost:${port}/`, {ca}), {status: 200}, 'by name')
  t.match(await run(`https://127.0.0.1:${port}/`, {ca: otherCa}), {code: 'CERT_VERIFY_FAILED'}, 'another CA')
  t.match(await run(`https://127.0.0.1:${port}/`, {ca: file('empty.pem', 'not a certificate\n')}), {code: 'ERR_TLS_CA'}, 'a CA file without a certificate')

  const ipOnly = await listen(createHttpsServer({cert: elsewhere.certPem, key: elsewhere.keyPem}, (_req, res) => res.end('x')))
  t.match(await run(`https://127.0.0.1:${ipOnly}/`, {ca: elsewhereCa}), {code: 'CERT_VERIFY_FAILED', message: /IP address mismatch/}, 'a certificate for 127.0.0.2')
  const named = await listen(createHttpsServer({cert: other.certPem, key: other.keyPem}, (_req, res) => res.end('x')))
  t.match(await run(`https://localhost:${named}/`, {ca: otherCa}), {code: 'CERT_VERIFY_FAILED', message: /hostname mismatch/}, 'a name the certificate lacks')

  // Half an answer, then the TCP connection dropped without TLS close_notify.
  const cut = await listen(
    createTlsServer({cert: pki.certPem, key: pki.keyPem}, (s) => {
      s.once('data', () => {
        s.write('HTTP/1.1 200 OK\r\n\r\n{"data":{"pass')
        setTimeout(() => s.destroy(), 50)
      })
    }),
  )
  t.match(await run(`https://127.0.0.1:${cut}/`, {ca}), {code: 'ERR_SSL_FAILED'}, 'a truncated answer is an error, not a short body')
})
