// The client library against a real beacon: parallel dial, rejections, end-to-end mTLS that the
// beacon cannot read, and reconnection with backoff.
import t from 'tap'
import net from 'node:net'
import {
  backoffDelay,
  BeaconError,
  dialBeacon,
  lookupAll,
  runBeaconClient,
  splitAddress,
  startInnerTls,
} from '../../../runtime/beacon/client.js'
import {HELLO_FIXED_BYTES, Status} from '../../../runtime/beacon/protocol.js'
import type {RelayDirection} from '../../../runtime/beacon/server.js'
import {hash, makePki, startBeacon, until} from './helpers.js'

const pki = makePki()
t.teardown(() => pki.cleanup())

t.test('address parsing and resolution', async (t) => {
  t.same(splitAddress('beacon.example.com:8443'), {host: 'beacon.example.com', port: 8443})
  t.same(splitAddress('beacon.example.com'), {host: 'beacon.example.com', port: 443})
  t.same(splitAddress('[::1]:444'), {host: '::1', port: 444})
  t.same(splitAddress('::1'), {host: '::1', port: 443})
  t.throws(() => splitAddress('a:b:c:'), {code: 'BEACON_BAD_ADDRESS'})
  t.same(await lookupAll('127.0.0.1'), ['127.0.0.1'])
  const local = await lookupAll('localhost')
  t.ok(local.includes('127.0.0.1') || local.includes('::1'), `localhost resolves: ${local.join(', ')}`)
})

t.test('dials every address in parallel and keeps the one that answers', async (t) => {
  const {beacon, port} = await startBeacon()
  t.teardown(() => beacon.close(0))
  // A closed port on another loopback address refuses at once; the live one must win regardless of order.
  const lookup = async (): Promise<string[]> => ['127.0.0.2', '127.0.0.1']
  const dead = net.createServer()
  await new Promise<void>((r) => dead.listen(port, '127.0.0.2', () => r()))
  dead.close()
  const h = hash()
  const o = {address: `beacon.test:${port}`, infoHash: h, tls: false as const, lookup}
  const [a, b] = await Promise.all([dialBeacon({...o, role: 'bridge'}), dialBeacon({...o, role: 'broker'})])
  t.equal(a.remoteAddress, '127.0.0.1')
  t.equal(beacon.metrics.pairsTotal, 1)
  a.destroy()
  b.destroy()
  await t.rejects(dialBeacon({...o, role: 'bridge', lookup: async () => ['127.0.0.2']}), {code: 'BEACON_UNREACHABLE'})
  await t.rejects(dialBeacon({...o, role: 'bridge', lookup: async () => []}), {code: 'BEACON_UNREACHABLE'})
})

t.test('rejections surface as BeaconError with the status', async (t) => {
  const {beacon, port} = await startBeacon({limits: {matchTimeoutMs: 100}})
  t.teardown(() => beacon.close(0))
  let waited = false
  const err = await dialBeacon({address: `127.0.0.1:${port}`, role: 'broker', infoHash: hash(), tls: false, onWaiting: () => (waited = true)}).catch((e) => e)
  t.ok(err instanceof BeaconError)
  t.equal(err.code, 'BEACON_REJECTED')
  t.equal(err.status, Status.MATCH_TIMEOUT)
  t.match(err.message, /MATCH_TIMEOUT/)
  t.ok(waited, 'WAITING was reported before the timeout')
  const ac = new AbortController()
  const p = dialBeacon({address: `127.0.0.1:${port}`, role: 'broker', infoHash: hash(), tls: false, signal: ac.signal})
  setTimeout(() => ac.abort(), 20)
  await t.rejects(p, {code: 'BEACON_ABORTED'})
})

for (const outer of ['plain', 'tls'] as const) {
  t.test(`inner mTLS over a ${outer} beacon: the canary never appears in the bytes the beacon relayed`, async (t) => {
    const seen: Record<RelayDirection, Buffer[]> = {bridge_to_broker: [], broker_to_bridge: []}
    const {beacon, port} = await startBeacon({
      tls: outer === 'tls' ? {certFile: pki.beaconCert, keyFile: pki.beaconKey} : undefined,
      onRelayChunk: (d, c) => seen[d].push(Buffer.from(c)),
    })
    t.teardown(() => beacon.close(0))
    const h = hash()
    const o = {address: `127.0.0.1:${port}`, infoHash: h, tls: outer === 'tls' ? {ca: pki.beaconCa} : (false as const)}
    const [bridgeOuter, brokerOuter] = await Promise.all([dialBeacon({...o, role: 'bridge'}), dialBeacon({...o, role: 'broker'})])
    const [bridge, broker] = await Promise.all([
      startInnerTls(bridgeOuter, 'bridge', {...pki.bridge, ca: pki.tenantCa}),
      startInnerTls(brokerOuter, 'broker', {...pki.broker, ca: pki.tenantCa}),
    ])
    t.ok(bridge.authorized && broker.authorized, 'both ends verified the other against the tenant CA')
    const canary = `CANARY-${hash().toString('hex')}`
    const secret = Buffer.from(`${canary} secret=hunter2 `.repeat(200))
    const got = {broker: '', bridge: ''}
    broker.setEncoding('utf8').on('data', (c: string) => (got.broker += c))
    bridge.setEncoding('utf8').on('data', (c: string) => (got.bridge += c))
    bridge.write(secret)
    broker.write(`${canary} reply`)
    await until(() => got.broker.length === secret.length && got.bridge.length > 0)
    t.ok(got.broker.includes(canary) && got.bridge.includes(canary), 'the ends see the plaintext')
    const relayed = {b2k: Buffer.concat(seen.bridge_to_broker), k2b: Buffer.concat(seen.broker_to_bridge)}
    t.ok(relayed.b2k.length > secret.length, 'the beacon relayed the (encrypted) payload')
    for (const [dir, bytes] of Object.entries(relayed)) {
      t.notOk(bytes.includes(canary), `${dir}: no canary in the relayed bytes`)
      t.notOk(bytes.includes('hunter2'), `${dir}: no secret in the relayed bytes`)
    }
    t.equal(beacon.metrics.bytesBridgeToBroker, relayed.b2k.length, 'every relayed byte passed the observer')
    t.equal(beacon.metrics.bytesBrokerToBridge, relayed.k2b.length)
    bridge.end()
    broker.end()
    await until(() => beacon.metrics.connectionsOpen === 0)
    // The close_notify alerts were relayed too.
    relayed.b2k = Buffer.concat(seen.bridge_to_broker)
    relayed.k2b = Buffer.concat(seen.broker_to_bridge)
    if (outer === 'plain') {
      // Byte for byte: what one end put on the wire after its hello is what the beacon relayed,
      // and what the other end read after its status frames.
      const brokerStatus = 2 // PAIRED only: the bridge was first to wait, or both raced
      t.equal(bridgeOuter.bytesWritten - HELLO_FIXED_BYTES, relayed.b2k.length)
      t.equal(brokerOuter.bytesWritten - HELLO_FIXED_BYTES, relayed.k2b.length)
      t.ok([relayed.b2k.length + brokerStatus, relayed.b2k.length + 2 * brokerStatus].includes(brokerOuter.bytesRead))
      t.ok([relayed.k2b.length + 2, relayed.k2b.length + 4].includes(bridgeOuter.bytesRead))
    }
  })
}

t.test('inner mTLS refuses a peer certificate from another CA', async (t) => {
  const {beacon, port} = await startBeacon()
  t.teardown(() => beacon.close(0))
  const o = {address: `127.0.0.1:${port}`, infoHash: hash(), tls: false as const}
  const [bridgeOuter, brokerOuter] = await Promise.all([dialBeacon({...o, role: 'bridge'}), dialBeacon({...o, role: 'broker'})])
  const results = await Promise.allSettled([
    startInnerTls(bridgeOuter, 'bridge', {...pki.bridge, ca: pki.tenantCa, handshakeTimeoutMs: 2_000}),
    startInnerTls(brokerOuter, 'broker', {...pki.stranger, handshakeTimeoutMs: 2_000}),
  ])
  t.equal(results[0].status, 'rejected', 'the bridge refuses the stranger')
  t.match((results[0] as PromiseRejectedResult).reason, {code: 'BEACON_PEER_TLS'})
  t.equal(results[1].status, 'rejected', 'and the stranger does not trust the bridge')
})

t.test('runBeaconClient: reconnects with jittered backoff until the beacon is up, then serves sessions', async (t) => {
  const probe = net.createServer()
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()))
  const port = (probe.address() as net.AddressInfo).port
  await new Promise<void>((r) => probe.close(() => r()))
  const h = hash()
  const errors: string[] = []
  const common = {address: `127.0.0.1:${port}`, infoHash: h, tls: false as const, backoff: {baseMs: 20, maxMs: 100}}
  const bridge = runBeaconClient({
    ...common,
    role: 'bridge',
    mode: 'parallel',
    inner: {...pki.bridge, ca: pki.tenantCa},
    onSession: (s) => void s.pipe(s), // echo
    onError: (e) => errors.push((e as BeaconError).code),
  })
  await until(() => errors.length >= 3)
  t.ok(errors.every((c) => c === 'BEACON_UNREACHABLE'), 'retries while the beacon is down')
  const {beacon} = await startBeacon({port})
  t.teardown(() => beacon.close(0))
  const replies: string[] = []
  const broker = runBeaconClient({
    ...common,
    role: 'broker',
    inner: {...pki.broker, ca: pki.tenantCa},
    onSession: (s) =>
      new Promise<void>((resolve) => {
        s.once('data', (c: Buffer) => {
          replies.push(c.toString())
          s.end()
          resolve()
        })
        s.write(`hello ${replies.length}`)
      }),
  })
  await until(() => replies.length >= 3, 10_000)
  t.same(replies.slice(0, 3), ['hello 0', 'hello 1', 'hello 2'], 'echoed through mTLS, one session after another')
  await broker.stop()
  await bridge.stop()
  t.ok(bridge.sessions >= 3)
})

t.test('backoff is full jitter, capped', async (t) => {
  t.equal(backoffDelay(0, 100, 1000, () => 0.999), 99)
  t.equal(backoffDelay(3, 100, 1000, () => 0.5), 400)
  t.equal(backoffDelay(50, 100, 1000, () => 0.999), 999)
  t.equal(backoffDelay(5, 100, 1000, () => 0), 0)
})
