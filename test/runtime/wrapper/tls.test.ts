// The wrapper against an OpenBao that speaks TLS (dev-tls, its own CA): with
// CLOUDTASER_VAULT_CACERT the app starts with its secret; without it the start fails at once as
// a TLS error (exit 3), not after retrying until the deadline: no retry makes a CA trusted.
import t from 'tap'
import {startOpenBao} from '../../../lib/lab/index.js'
import {OpenBaoClient} from '../../../lib/openbao/client.js'
import {CHILD_SCRIPT, memoryHits, runWrapper, type Run} from './helpers.js'

const bao = await startOpenBao({tls: true})
const runs: Run[] = []
t.teardown(async () => {
  runs.forEach((r) => r.killAll())
  await bao.stop()
})
const addr = bao.addr
const caFile = bao.caPath!
{
  const ca = bao.caPem!
  const c = new OpenBaoClient({addr, token: bao.token, tokenSource: 'flag', ca, timeoutMs: 2000, attempts: 1})
  await c.write('secret/data/app/db', {data: {password: 'tls-canary-7c1e'}})
  await c.close()
}

const start = (extra: Record<string, string>) => {
  const r = runWrapper({
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    CLOUDTASER_ORIGINAL_CMD: JSON.stringify([process.execPath, '-e', CHILD_SCRIPT]),
    CLOUDTASER_VAULT_ADDR: addr,
    CLOUDTASER_VAULT_AUTH_METHOD: 'token',
    CLOUDTASER_VAULT_TOKEN: bao.token,
    CLOUDTASER_SECRET_PATHS: 'secret/data/app/db',
    CLOUDTASER_ENV_MAP: 'password=PGPASSWORD',
    CLOUDTASER_START_DEADLINE: '20s',
    ...extra,
  })
  runs.push(r)
  return r
}

t.test('with the CA: the app starts with its secret over TLS', async (t) => {
  const r = start({CLOUDTASER_VAULT_CACERT: caFile})
  t.equal((await r.waitFor('start')).env!.PGPASSWORD, 'tls-canary-7c1e')
  // rustls' record and plaintext buffers are heap blocks, zeroed when freed (alloc.rs), and the
  // connection is closed after each request: no copy is left in the wrapper's readable memory.
  const mem = memoryHits(r.proc.pid!, Buffer.from('tls-canary-7c1e'))
  t.equal(mem.hits, 0, `no copy of the value in the wrapper's memory (unreadable: ${mem.unreadable})`)
  t.match(r.stderr.join(''), /"secretMemory":"memfd_secret"|"secretMemory":"mlock"/)
  r.proc.kill('SIGTERM')
  t.equal(await r.exit, 42)
})

t.test('a CA file that is not PEM: exit 3 before any request', async (t) => {
  const r = start({CLOUDTASER_VAULT_CACERT: '/dev/null'})
  t.equal(await r.exit, 3)
  t.match(r.stderr.join(''), /"code":"WRAPPER_CACERT".*holds no PEM certificate/)
})

t.test('without it: exit 3 with BAO_TLS at once, the app never starts', async (t) => {
  const t0 = Date.now()
  const r = start({})
  t.equal(await r.exit, 3)
  t.ok(Date.now() - t0 < 15_000, 'not retried until the 20 s deadline')
  t.match(r.stderr.join(''), /"code":"BAO_TLS"/)
  t.equal(r.lines.length, 0)
})
