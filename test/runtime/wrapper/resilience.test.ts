// The wrapper over time, against a real OpenBao: a short-lived token is renewed past its first TTL;
// when OpenBao becomes unreachable the app keeps running and the wrapper keeps trying; when it is
// back, a secret change is picked up again. The cut is a plain TCP forwarder in front of OpenBao.
import t from 'tap'
import {createServer, connect, type Server, type Socket} from 'node:net'
import {setTimeout as sleep} from 'node:timers/promises'
import {startOpenBao} from '../../../lib/lab/index.js'
import {bao as call} from '../../lib/lab/helpers.js'
import {CHILD_SCRIPT, runWrapper, type Run} from './helpers.js'

const bao = await startOpenBao()
t.teardown(() => bao.stop())
const root = (method: string, path: string, body?: unknown) => call(bao.addr, bao.token, method, path, body)
await root('PUT', 'sys/policies/acl/app-read', {policy: 'path "secret/data/app/*" { capabilities = ["read"] }'})
await root('POST', 'secret/data/app/db', {data: {password: 'v1'}})
const baoPort = Number(new URL(bao.addr).port)

// The forwarder: close() drops the listener and every open connection, reopen() listens again on the same port.
const sockets = new Set<Socket>()
let proxy: Server
const listen = (port: number) =>
  new Promise<number>((resolve) => {
    proxy = createServer((c) => {
      const up = connect(baoPort, '127.0.0.1')
      for (const s of [c, up]) {
        sockets.add(s)
        s.on('close', () => sockets.delete(s))
        s.on('error', () => undefined)
      }
      c.pipe(up).pipe(c)
    })
    proxy.listen(port, '127.0.0.1', () => resolve((proxy.address() as {port: number}).port))
  })
const cut = () => new Promise<void>((r) => (proxy.close(() => r()), sockets.forEach((s) => s.destroy())))
const port = await listen(0)

const runs: Run[] = []
t.teardown(async () => {
  runs.forEach((r) => r.killAll())
  await cut().catch(() => undefined)
})

t.test('renewal keeps a 10 s token alive; an outage leaves the app running; recovery resumes change detection', async (t) => {
  // 10 s: the wrapper from TypeScript source can take seconds to start when the suite runs in parallel on 2 cores.
  const created = Date.now()
  const token = (await root('POST', 'auth/token/create', {policies: ['app-read'], ttl: '10s', explicit_max_ttl: '120s', renewable: true})).body.auth.client_token as string
  const r = runWrapper({
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    CLOUDTASER_ORIGINAL_CMD: JSON.stringify([process.execPath, '-e', CHILD_SCRIPT]),
    CLOUDTASER_VAULT_ADDR: `http://127.0.0.1:${port}`,
    CLOUDTASER_VAULT_AUTH_METHOD: 'token',
    CLOUDTASER_VAULT_TOKEN: token,
    CLOUDTASER_SECRET_PATHS: 'secret/data/app/db',
    CLOUDTASER_ENV_MAP: 'password=PGPASSWORD',
    CLOUDTASER_POLL_INTERVAL: '300ms',
  })
  runs.push(r)
  const first = await r.waitFor('start')
  t.equal(first.env!.PGPASSWORD, 'v1')

  await sleep(created + 13_000 - Date.now())
  t.match(r.stderr.join(''), /token_renewed/, 'renewed before the 10 s TTL ran out')
  t.equal((await call(bao.addr, token, 'GET', 'auth/token/lookup-self')).status, 200, 'the token outlived its first TTL')

  await cut()
  await sleep(1500)
  t.equal(r.proc.exitCode, null, 'the wrapper is still running during the outage')
  t.equal(r.lines.filter((l) => l.why === 'start').length, 1, 'the app was neither restarted nor stopped')
  t.match(r.stderr.join(''), /refresh_failed/, 'and the wrapper says it keeps trying')

  await listen(port)
  await root('POST', 'secret/data/app/db', {data: {password: 'v2'}})
  const second = await r.waitFor('start', 2, 20_000)
  t.equal(second.env!.PGPASSWORD, 'v2', 'after recovery the change is picked up')
  r.proc.kill('SIGTERM')
  t.equal(await r.exit, 42)
})
