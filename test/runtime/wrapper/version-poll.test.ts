// Change detection without moving values: with read on KV metadata (what `source apply-plan`
// grants), the wrapper polls versions and reads a secret again only when it changed; a token
// without it falls back to reading the secrets, and says so. A counting forwarder in front of a
// real OpenBao sees every request path.
import t from 'tap'
import {createServer, connect, type Socket} from 'node:net'
import {setTimeout as sleep} from 'node:timers/promises'
import {startOpenBao} from '../../../lib/lab/index.js'
import {bao as call} from '../../lib/lab/helpers.js'
import {CHILD_SCRIPT, runWrapper, type Run} from './helpers.js'

const bao = await startOpenBao()
t.teardown(() => bao.stop())
const root = (method: string, path: string, body?: unknown) => call(bao.addr, bao.token, method, path, body)
await root('PUT', 'sys/policies/acl/data-only', {policy: 'path "secret/data/poll/*" { capabilities = ["read"] }'})
await root('PUT', 'sys/policies/acl/data-and-metadata', {
  policy: 'path "secret/data/poll/*" { capabilities = ["read"] }\npath "secret/metadata/poll/*" { capabilities = ["read"] }',
})
const baoPort = Number(new URL(bao.addr).port)

// Counts request lines per path; keep-alive connections carry several requests each.
const seen: string[] = []
const sockets = new Set<Socket>()
const proxy = createServer((c) => {
  const up = connect(baoPort, '127.0.0.1')
  for (const s of [c, up]) {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => undefined)
  }
  c.on('data', (chunk: Buffer) => {
    for (const m of chunk.toString('latin1').matchAll(/^(GET|PUT|POST) \/v1\/(\S+) HTTP/gm)) seen.push(`${m[1]} ${m[2]}`)
  })
  c.pipe(up).pipe(c)
})
await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()))
const proxyPort = (proxy.address() as {port: number}).port
const runs: Run[] = []
t.teardown(() => {
  runs.forEach((r) => r.killAll())
  sockets.forEach((s) => s.destroy())
  proxy.close()
})

const start = async (policy: string, path: string, token?: string) => {
  token ??= (await root('POST', 'auth/token/create', {policies: [policy], ttl: '10m'})).body.auth.client_token as string
  const r = runWrapper({
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    CLOUDTASER_ORIGINAL_CMD: JSON.stringify([process.execPath, '-e', CHILD_SCRIPT]),
    CLOUDTASER_VAULT_ADDR: `http://127.0.0.1:${proxyPort}`,
    CLOUDTASER_VAULT_AUTH_METHOD: 'token',
    CLOUDTASER_VAULT_TOKEN: token,
    CLOUDTASER_SECRET_PATHS: path,
    CLOUDTASER_ENV_MAP: 'password=PGPASSWORD',
    CLOUDTASER_POLL_INTERVAL: '200ms',
  })
  runs.push(r)
  return r
}
const count = (request: string) => seen.filter((s) => s === request).length

t.test('with read on metadata, an unchanged secret is read once; a change is read and restarts the app', async (t) => {
  await root('POST', 'secret/data/poll/a', {data: {password: 'a1'}})
  const before = seen.length
  const r = await start('data-and-metadata', 'secret/data/poll/a')
  t.equal((await r.waitFor('start')).env!.PGPASSWORD, 'a1')
  await sleep(2000)
  const mine = seen.slice(before)
  t.equal(mine[0], 'GET secret/data/poll/a', 'the secret is the first request: the app does not wait for lookup-self')
  t.equal(mine.filter((s) => s === 'GET auth/token/lookup-self').length, 1, 'the token TTL is looked up once, after the start')
  t.match(r.stderr.join(''), /"event":"token_ttl","leaseSeconds":[1-9]/)
  t.equal(count('GET secret/data/poll/a'), 1, 'the value travelled once, at start')
  t.ok(count('GET secret/metadata/poll/a') >= 4, `versions polled (${count('GET secret/metadata/poll/a')} times)`)
  t.notMatch(r.stderr.join(''), /version_poll_by_read/)
  await root('POST', 'secret/data/poll/a', {data: {password: 'a2'}})
  t.equal((await r.waitFor('start', 2, 15_000)).env!.PGPASSWORD, 'a2', 'the change restarted the app with the new value')
  t.equal(count('GET secret/data/poll/a'), 2, 'read again only because it changed')
  r.proc.kill('SIGTERM')
  t.equal(await r.exit, 42)
})

t.test('without read on metadata: polling reads the secrets, said once in the log', async (t) => {
  await root('POST', 'secret/data/poll/b', {data: {password: 'b1'}})
  const r = await start('data-only', 'secret/data/poll/b')
  await r.waitFor('start')
  await sleep(2000)
  t.ok(count('GET secret/data/poll/b') >= 4, `polled by reading (${count('GET secret/data/poll/b')} reads)`)
  t.equal(r.stderr.join('').match(/version_poll_by_read/g)?.length, 1, 'the fallback is reported once')
  await root('POST', 'secret/data/poll/b', {data: {password: 'b2'}})
  t.equal((await r.waitFor('start', 2, 15_000)).env!.PGPASSWORD, 'b2')
  r.proc.kill('SIGTERM')
  t.equal(await r.exit, 42)
})

t.test('an invalid token still fails the start as BAO_INVALID_TOKEN (found by the first read)', async (t) => {
  await root('POST', 'secret/data/poll/c', {data: {password: 'c1'}})
  const r = await start('data-only', 'secret/data/poll/c', 'not-a-token')
  t.equal(await r.exit, 4)
  t.match(r.stderr.join(''), /"code":"BAO_INVALID_TOKEN"/)
  t.notMatch(r.stderr.join(''), /child_started/)
})

t.test('a restart also stops what the old app left running (an entrypoint script that did not exec)', async (t) => {
  await root('POST', 'secret/data/poll/script', {data: {password: 's1'}})
  const token = (await root('POST', 'auth/token/create', {policies: ['data-and-metadata'], ttl: '10m'})).body.auth.client_token as string
  // sh dies of the SIGTERM; without the wrapper's help its background server would run on,
  // holding whatever the next generation needs (Redis: its port).
  const r = runWrapper({
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    CLOUDTASER_ORIGINAL_CMD: JSON.stringify(['sh', '-c', '"$0" -e "$1" & wait', process.execPath, CHILD_SCRIPT]),
    CLOUDTASER_VAULT_ADDR: `http://127.0.0.1:${proxyPort}`,
    CLOUDTASER_VAULT_AUTH_METHOD: 'token',
    CLOUDTASER_VAULT_TOKEN: token,
    CLOUDTASER_SECRET_PATHS: 'secret/data/poll/script',
    CLOUDTASER_ENV_MAP: 'password=PGPASSWORD',
    CLOUDTASER_POLL_INTERVAL: '200ms',
  })
  runs.push(r)
  const first = await r.waitFor('start')
  t.equal(first.env!.PGPASSWORD, 's1')
  await root('POST', 'secret/data/poll/script', {data: {password: 's2'}})
  t.equal((await r.waitFor('start', 2, 15_000)).env!.PGPASSWORD, 's2', 'the new generation started')
  const whys = r.lines.map((l) => l.why)
  t.ok(whys.indexOf('term') > 0 && whys.indexOf('term') < whys.lastIndexOf('start'), 'the old server got SIGTERM before the new one started')
  t.throws(() => process.kill(first.pid!, 0), {code: 'ESRCH'}, 'and is gone')
  t.match(r.stderr.join(''), /"event":"leftovers_stopped","processes":1/)
  r.proc.kill('SIGTERM')
  await r.exit
})
