// `cloudtaser beacon serve` as an operator runs it: JSON logs on stderr, ops endpoints, SIGTERM drains.
import t from 'tap'
import {spawn} from 'node:child_process'
import {Status} from '../../../runtime/beacon/protocol.js'
import {hash, makePki, RawClient, until} from './helpers.js'

const pki = makePki()
t.teardown(() => pki.cleanup())

const serve = (...args: string[]) => {
  const child = spawn(process.execPath, ['bin/run.js', 'beacon', 'serve', '--host', '127.0.0.1', '--port', '0', '--ops-host', '127.0.0.1', '--ops-port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => (stdout += c))
  child.stderr.on('data', (c: Buffer) => (stderr += c))
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  const logs = (): Record<string, unknown>[] =>
    stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
  return {child, exited, logs, out: () => stdout, err: () => stderr}
}

t.test('plain mode: pairs, serves ops endpoints, drains on SIGTERM and prints a JSON summary', async (t) => {
  const s = serve('--plain', '--json')
  t.teardown(() => void s.child.kill('SIGKILL'))
  await until(() => s.logs().some((l) => l.event === 'ops_listening'), 30_000)
  const port = s.logs().find((l) => l.event === 'listening')!.port as number
  const ops = s.logs().find((l) => l.event === 'ops_listening')!.url as string
  t.equal((await fetch(`${ops}/healthz`)).status, 200)
  t.equal((await fetch(`${ops}/readyz`)).status, 200)
  const h = hash()
  const a = new RawClient(port).hello('bridge', h)
  await a.statuses(1)
  const b = new RawClient(port).hello('broker', h)
  t.same(await b.statuses(1), [Status.PAIRED])
  a.sock.write('x'.repeat(10))
  await b.bytes(12)
  const metrics = await (await fetch(`${ops}/metrics`)).text()
  t.match(metrics, /cloudtaser_beacon_pairs_total 1/)
  t.match(metrics, /cloudtaser_beacon_relayed_bytes_total\{direction="bridge_to_broker"\} 10/)
  s.child.kill('SIGTERM')
  await until(() => s.logs().some((l) => l.event === 'draining'))
  a.sock.end()
  b.sock.end()
  t.equal(await s.exited, 0, s.err())
  const summary = JSON.parse(s.out())
  t.match(summary, {listen: {tls: false}, pairsTotal: 1, bytesRelayed: 10})
  t.notOk(s.err().includes('xxxxxxxxxx'), 'no payload in the logs')
})

t.test('TLS mode needs a certificate; a bad one is a config error', async (t) => {
  const none = serve('--json')
  t.equal(await none.exited, 2)
  t.match(JSON.parse(none.out()), {error: {code: 'BEACON_NO_CERT'}})
  const bad = serve('--cert', pki.beaconCert, '--key', pki.beaconKey2, '--json')
  t.equal(await bad.exited, 3)
  t.match(JSON.parse(bad.out()), {error: {code: 'BEACON_CERT_INVALID'}})
  const ok = serve('--cert', pki.beaconCert, '--key', pki.beaconKey)
  await until(() => ok.logs().some((l) => l.event === 'ops_listening'), 30_000)
  t.match(ok.logs().find((l) => l.event === 'listening'), {tls: true})
  ok.child.kill('SIGTERM')
  t.equal(await ok.exited, 0)
  t.match(ok.out(), /beacon stopped: 0 pairs/)
})
