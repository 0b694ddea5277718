// The S3 proxy's OpenBao transport (node:http(s), no undici) against a real OpenBao over TLS: the
// given CA is the only one trusted, failures keep the codes BaoClient classifies (TLS refused
// without retrying, a closed port retried then BAO_UNREACHABLE), and secret-bearing reads arrive
// byte for byte.
import t from 'tap'
import {randomBytes} from 'node:crypto'
import {createServer} from 'node:net'
import {startOpenBao} from '../../../lib/lab/index.js'
import {BaoClient} from '../../../lib/openbao/bao-client.js'
import {resolveConnection} from '../../../lib/openbao/config.js'
import {NodeHttpTransport} from '../../../lib/openbao/node-http-transport.js'
import {transitDecrypt, transitEncrypt} from '../../../lib/openbao/transit.js'

const bao = await startOpenBao({tls: true})
t.teardown(() => bao.stop())
const settings = (ca: string | undefined, addr = bao.addr) => ({...resolveConnection({'openbao-addr': addr, token: bao.token}, {}, '/nonexistent'), ca, attempts: 2})
const client = (ca: string | undefined, addr = bao.addr) => {
  const s = settings(ca, addr)
  return new BaoClient(s, new NodeHttpTransport({ca, timeoutMs: 5000, https: addr.startsWith('https:')}), {backoffMs: 10})
}

t.test('with the CA: Transit round trip, keep-alive', async (t) => {
  t.match(bao.addr, /^https:/)
  const c = client(bao.caPem)
  t.teardown(() => c.close())
  await c.write('sys/mounts/transit', {type: 'transit'})
  await c.write('transit/keys/t', {})
  const key = randomBytes(32)
  const wrapped = await transitEncrypt(c, 'transit', 't', key)
  t.match(wrapped.ciphertext, /^vault:v1:/)
  t.ok((await transitDecrypt(c, 'transit', 't', wrapped.ciphertext)).equals(key), 'the data key comes back byte for byte')
  t.equal(c.stats.retries, 0)
})

t.test('without the CA: BAO_TLS, not retried', async (t) => {
  const c = client(undefined)
  t.teardown(() => c.close())
  await t.rejects(c.read('sys/mounts'), {code: 'BAO_TLS'})
  t.equal(c.stats.requests, 1, 'one attempt: no retry fixes a certificate')
})

t.test('a closed port: retried, then BAO_UNREACHABLE', async (t) => {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))
  const port = (s.address() as {port: number}).port
  await new Promise<void>((r) => s.close(() => r()))
  const c = client(undefined, `http://127.0.0.1:${port}`)
  t.teardown(() => c.close())
  await t.rejects(c.read('sys/mounts'), {code: 'BAO_UNREACHABLE', message: /ECONNREFUSED/})
  t.equal(c.stats.requests, 2, 'both attempts made')
})
