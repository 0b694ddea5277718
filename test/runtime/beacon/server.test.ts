// The relay over real sockets on 127.0.0.1: pairing rules, limits, garbage, half-close, bulk, scale.
import t from 'tap'
import {createHash, randomBytes} from 'node:crypto'
import net from 'node:net'
import tls from 'node:tls'
import {copyFileSync} from 'node:fs'
import {encodeHello, MAGIC, Status} from '../../../runtime/beacon/protocol.js'
import {BeaconServer} from '../../../runtime/beacon/server.js'
import {dialBeacon} from '../../../runtime/beacon/client.js'
import type {LogFields} from '../../../runtime/beacon/log.js'
import {delay, hash, makePki, RawClient, startBeacon, until} from './helpers.js'

const pki = makePki()
t.teardown(() => pki.cleanup())

const pair = async (port: number, h = hash()): Promise<[RawClient, RawClient]> => {
  const a = new RawClient(port).hello('bridge', h)
  t.same(await a.statuses(1), [Status.WAITING])
  const b = new RawClient(port).hello('broker', h)
  await b.statuses(1)
  await a.statuses(2)
  a.received = a.received.subarray(4)
  b.received = b.received.subarray(2)
  return [a, b]
}

t.test('pairs opposite roles with the same hash and relays both ways', async (t) => {
  const {beacon, port} = await startBeacon()
  t.teardown(() => beacon.close(0))
  const h = hash()
  const bridge = new RawClient(port).hello('bridge', h)
  t.same(await bridge.statuses(1), [Status.WAITING], 'first comer waits')
  const broker = new RawClient(port).hello('broker', h)
  t.same(await broker.statuses(1), [Status.PAIRED], 'second comer is paired at once')
  t.same(await bridge.statuses(2), [Status.WAITING, Status.PAIRED])
  bridge.sock.write('from bridge')
  broker.sock.write('from broker')
  t.equal((await broker.bytes(2 + 11)).subarray(2).toString(), 'from bridge')
  t.equal((await bridge.bytes(4 + 11)).subarray(4).toString(), 'from broker')
  t.equal(beacon.metrics.pairsActive, 1)
  t.equal(beacon.metrics.waiting, 0)
  t.equal(beacon.metrics.bytesBridgeToBroker, 11)
  // A reset (not a FIN, which is a legitimate half-close) on one side tears down the other.
  bridge.sock.resetAndDestroy()
  const closed = await Promise.race([broker.closed.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 5000))])
  t.ok(closed, 'the peer of a reset connection is closed (within 5 s)')
  await until(() => beacon.metrics.pairsActive === 0 && beacon.metrics.connectionsOpen === 0)
})

t.test('never pairs across hashes or within one role; FIFO per hash', async (t) => {
  const {beacon, port} = await startBeacon()
  t.teardown(() => beacon.close(0))
  const h1 = hash()
  const h2 = hash()
  const b1 = new RawClient(port).hello('bridge', h1)
  await b1.statuses(1)
  const b2 = new RawClient(port).hello('bridge', h1)
  const k2 = new RawClient(port).hello('broker', h2)
  await b2.statuses(1)
  await k2.statuses(1)
  await delay(100)
  t.same(await b1.statuses(2).catch(() => 'none'), 'none', 'same role, same hash: no pair')
  t.equal(b2.received.length, 2)
  t.equal(k2.received.length, 2, 'other hash, opposite role: no pair')
  t.equal(beacon.metrics.waiting, 3)
  t.equal(beacon.metrics.pairsTotal, 0)
  const k1 = new RawClient(port).hello('broker', h1)
  t.same(await k1.statuses(1), [Status.PAIRED])
  t.same(await b1.statuses(2), [Status.WAITING, Status.PAIRED], 'the longest-waiting bridge is paired')
  t.equal(b2.received.length, 2, 'the second bridge still waits')
  t.equal(beacon.metrics.waiting, 2)
  for (const c of [b1, b2, k1, k2]) c.sock.destroy()
  await until(() => beacon.metrics.connectionsOpen === 0)
  t.equal(beacon.metrics.waiting, 0, 'closed waiting clients leave the queue')
}, )

t.test('unmatched clients time out with MATCH_TIMEOUT', async (t) => {
  const {beacon, port} = await startBeacon({limits: {matchTimeoutMs: 150}})
  t.teardown(() => beacon.close(0))
  const c = new RawClient(port).hello('broker', hash())
  const t0 = Date.now()
  await c.closed
  t.ok(Date.now() - t0 >= 140, 'not before the timeout')
  t.same([...c.received], [1, Status.WAITING, 1, Status.MATCH_TIMEOUT])
  t.equal(beacon.metrics.rejections.match_timeout, 1)
  t.equal(beacon.metrics.waiting, 0)
})

t.test('garbage, slow and oversized hellos are refused with their code', async (t) => {
  const {beacon, port} = await startBeacon({limits: {helloTimeoutMs: 200, maxHelloBytes: 64}})
  t.teardown(() => beacon.close(0))
  const cases: [string, Buffer, number][] = [
    ['http', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), Status.BAD_MAGIC],
    ['version', Buffer.concat([MAGIC, Buffer.from([9])]), Status.UNSUPPORTED_VERSION],
    ['role', Buffer.concat([MAGIC, Buffer.from([1, 7])]), Status.BAD_ROLE],
    ['size', encodeHello('bridge', hash(), Buffer.alloc(25)), Status.HELLO_TOO_LARGE],
    ['early data', Buffer.concat([encodeHello('bridge', hash()), Buffer.from('too soon')]), Status.EARLY_DATA],
  ]
  for (const [name, bytes, code] of cases) {
    const c = new RawClient(port)
    c.sock.write(bytes)
    await c.closed
    t.same([...c.received], [1, code], name)
  }
  const slow = new RawClient(port)
  slow.sock.write(MAGIC.subarray(0, 3))
  await slow.closed
  t.same([...slow.received], [1, Status.HELLO_TIMEOUT], 'slow hello')
  const waiting = new RawClient(port).hello('bridge', hash())
  await waiting.statuses(1)
  waiting.sock.write('x')
  await waiting.closed
  t.same([...waiting.received], [1, Status.WAITING, 1, Status.EARLY_DATA], 'data while waiting')
  const r = beacon.metrics.rejections
  t.match(r, {bad_magic: 1, unsupported_version: 1, bad_role: 1, hello_too_large: 1, early_data: 2, hello_timeout: 1})
})

t.test('fuzzed hellos never crash the beacon nor disturb a live pair', async (t) => {
  const {beacon, port} = await startBeacon({limits: {helloTimeoutMs: 300, maxConnectionsPerSource: 10_000}})
  t.teardown(() => beacon.close(0))
  const [a, b] = await pair(port)
  const valid = encodeHello('broker', hash())
  const fuzz: Buffer[] = []
  for (let i = 0; i < 600; i++) {
    const kind = i % 4
    if (kind === 0) fuzz.push(randomBytes(Math.floor(Math.random() * 300)))
    else if (kind === 1) {
      // A valid hello with one random byte changed somewhere in its header.
      const m = Buffer.from(valid)
      const at = Math.floor(Math.random() * 8)
      m[at] = m[at]! ^ (1 + Math.floor(Math.random() * 255))
      fuzz.push(m)
    } else if (kind === 2) fuzz.push(Buffer.concat([valid.subarray(0, 6), randomBytes(Math.floor(Math.random() * 80))]))
    else fuzz.push(valid.subarray(0, Math.floor(Math.random() * valid.length)))
  }
  const clients = fuzz.map((bytes) => {
    const c = new RawClient(port)
    // Arrive in pieces to exercise reassembly.
    const cut = Math.floor(Math.random() * (bytes.length + 1))
    c.sock.write(bytes.subarray(0, cut))
    setTimeout(() => c.sock.writable && c.sock.write(bytes.subarray(cut)), 5)
    return c
  })
  let echoed = 0
  for (let i = 0; i < 20; i++) {
    a.sock.write(`ping${i};`)
    await b.bytes(echoed + 6 + (i >= 10 ? 1 : 0))
    echoed = b.received.length
  }
  t.equal(b.received.toString(), Array.from({length: 20}, (_, i) => `ping${i};`).join(''), 'the live pair kept relaying')
  for (const c of clients) c.sock.end()
  await Promise.all(clients.map((c) => c.closed))
  t.equal(beacon.state, 'listening')
  a.sock.destroy()
  b.sock.destroy()
  await until(() => beacon.metrics.connectionsOpen === 0, 10_000)
  t.equal(beacon.metrics.waiting, 0)
})

t.test('half-close: a FIN travels one way while the other direction keeps flowing', async (t) => {
  const {beacon, port} = await startBeacon()
  t.teardown(() => beacon.close(0))
  const [a, b] = await pair(port)
  b.autoEnd = false
  let bEnded = false
  b.sock.once('end', () => (bEnded = true))
  a.sock.end('last words')
  await until(() => bEnded)
  t.equal(b.received.toString(), 'last words', 'data before FIN arrives, then end')
  t.notOk(a.sock.destroyed, 'the half-closed side still reads')
  b.sock.write('reply after your FIN')
  await a.bytes(20)
  t.equal(a.received.toString(), 'reply after your FIN')
  b.sock.end()
  await Promise.all([a.closed, b.closed])
  await until(() => beacon.metrics.connectionsOpen === 0 && beacon.metrics.pairsActive === 0)
})

t.test('100 MB through the TLS listener with a matching checksum, with backpressure', async (t) => {
  const {beacon, port} = await startBeacon({tls: {certFile: pki.beaconCert, keyFile: pki.beaconKey}})
  t.teardown(() => beacon.close(0))
  const h = hash()
  const opts = {address: `127.0.0.1:${port}`, infoHash: h, tls: {ca: pki.beaconCa}}
  const [sender, receiver] = await Promise.all([dialBeacon({...opts, role: 'bridge'}), dialBeacon({...opts, role: 'broker'})])
  const total = 100 * 1024 * 1024
  const block = randomBytes(1024 * 1024)
  const sent = createHash('sha256')
  const got = createHash('sha256')
  let received = 0
  receiver.on('data', (c: Buffer) => {
    got.update(c)
    received += c.length
  })
  const done = new Promise<void>((r) => receiver.once('end', () => r()))
  receiver.resume()
  const t0 = performance.now()
  for (let i = 0; i < 100; i++) {
    // Vary the block so a misordered relay cannot produce the same digest.
    block.writeUInt32BE(i, 0)
    sent.update(block)
    if (!sender.write(Buffer.from(block))) await new Promise((r) => sender.once('drain', r))
  }
  sender.end()
  await done
  const s = (performance.now() - t0) / 1000
  t.equal(received, total)
  t.equal(got.digest('hex'), sent.digest('hex'), 'sha256 matches')
  t.equal(beacon.metrics.bytesBridgeToBroker, total)
  t.comment(`100 MB over TLS in ${s.toFixed(2)} s (${(100 / s).toFixed(0)} MB/s, sender, beacon and receiver in one process)`)
  receiver.end()
})

t.test('1,000 concurrent pairs', async (t) => {
  const {beacon, port} = await startBeacon({limits: {maxConnectionsPerSource: 5_000}})
  t.teardown(() => beacon.close(0))
  const n = 1000
  const hashes = Array.from({length: n}, () => hash())
  const opts = {address: `127.0.0.1:${port}`, tls: false as const}
  const t0 = performance.now()
  const pairs = await Promise.all(
    hashes.map((h) => Promise.all([dialBeacon({...opts, infoHash: h, role: 'bridge'}), dialBeacon({...opts, infoHash: h, role: 'broker'})])),
  )
  t.equal(beacon.metrics.pairsActive, n)
  t.equal(beacon.metrics.waiting, 0)
  const echo = await Promise.all(
    pairs.map(
      ([a, b], i) =>
        new Promise<boolean>((resolve) => {
          const msg = hashes[i]!.toString('hex')
          let got = ''
          b.setEncoding('utf8')
          b.on('data', (c: string) => {
            got += c
            if (got.length >= msg.length) resolve(got === msg)
          })
          b.resume()
          a.write(msg)
        }),
    ),
  )
  t.equal(echo.filter(Boolean).length, n, 'every pair got its own peer\'s bytes')
  t.comment(`1,000 pairs made and exercised in ${(performance.now() - t0).toFixed(0)} ms`)
  for (const [a, b] of pairs) {
    a.destroy()
    b.destroy()
  }
  await until(() => beacon.metrics.connectionsOpen === 0, 10_000)
})

t.test('limits: per hash, in total, per source address', async (t) => {
  const {beacon, port} = await startBeacon({limits: {maxWaitingPerHash: 2, maxWaiting: 3, maxConnectionsPerSource: 5}})
  t.teardown(() => beacon.close(0))
  const h = hash()
  const w = [new RawClient(port).hello('bridge', h), new RawClient(port).hello('bridge', h)]
  for (const c of w) await c.statuses(1)
  const third = new RawClient(port).hello('bridge', h)
  await third.closed
  t.same([...third.received], [1, Status.HASH_FULL])
  const other = new RawClient(port).hello('broker', hash())
  await other.statuses(1)
  const full = new RawClient(port).hello('broker', hash())
  await full.closed
  t.same([...full.received], [1, Status.BEACON_FULL])
  const extra = [new RawClient(port), new RawClient(port)]
  await Promise.all(extra.map((c) => c.connected()))
  await until(() => beacon.metrics.connectionsOpen === 5)
  const refused = new RawClient(port)
  await refused.closed
  t.equal(refused.received.length, 0, 'over the source limit: closed without a word')
  t.match(beacon.metrics.rejections, {hash_full: 1, beacon_full: 1, source_limit: 1})
  for (const c of [...w, other, ...extra]) c.sock.destroy()

  const open = await startBeacon({limits: {maxConnectionsPerSource: 0}})
  t.teardown(() => open.beacon.close(0))
  const many = Array.from({length: 20}, () => new RawClient(open.port).hello('bridge', hash()))
  for (const c of many) t.same(await c.statuses(1), [Status.WAITING])
  t.equal(open.beacon.metrics.rejections.source_limit, 0, '0 turns the per-source limit off')
  for (const c of many) c.sock.destroy()
})

t.test('graceful shutdown: refuse waiting, drain pairs, cut at the deadline', async (t) => {
  const {beacon, port} = await startBeacon()
  const [a, b] = await pair(port)
  const waiting = new RawClient(port).hello('bridge', hash())
  await waiting.statuses(1)
  const closing = beacon.close(5_000)
  await waiting.closed
  t.same([...waiting.received], [1, Status.WAITING, 1, Status.SHUTTING_DOWN])
  t.equal(beacon.state, 'draining')
  await new Promise<void>((resolve) => {
    const s = net.connect(port, '127.0.0.1')
    s.on('error', () => resolve())
    s.on('close', () => resolve())
  })
  a.sock.write('still relaying')
  await b.bytes(14)
  t.equal(b.received.toString(), 'still relaying', 'pairs keep working while draining')
  a.sock.end()
  b.sock.end()
  await closing
  t.equal(beacon.state, 'closed')

  const second = await startBeacon()
  const [c, d] = await pair(second.port)
  const t0 = Date.now()
  await second.beacon.close(100)
  await Promise.all([c.closed, d.closed])
  t.ok(Date.now() - t0 < 2_000, 'a pair that does not end is cut at the deadline')
})

t.test('TLS certificate reload on file change', async (t) => {
  const {dir} = pki
  const certFile = `${dir}/live.crt`
  const keyFile = `${dir}/live.key`
  copyFileSync(pki.beaconCert, certFile)
  copyFileSync(pki.beaconKey, keyFile)
  const {beacon, port} = await startBeacon({tls: {certFile, keyFile, reloadIntervalMs: 50}})
  t.teardown(() => beacon.close(0))
  const serial = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const s = tls.connect({host: '127.0.0.1', port, ca: pki.beaconCa}, () => {
        resolve(s.getPeerCertificate().serialNumber)
        s.destroy()
      })
      s.on('error', reject)
    })
  const before = await serial()
  copyFileSync(pki.beaconKey2, keyFile)
  copyFileSync(pki.beaconCert2, certFile)
  await until(() => beacon.metrics.certReloads.ok > 0 && beacon.metrics.certReloads.error === 0, 5_000).catch(() => {})
  await until(() => beacon.metrics.certReloads.ok >= 1)
  const after = await serial()
  t.not(after, before, 'new connections get the new certificate')
  copyFileSync(pki.broker.cert.length ? pki.beaconCert : pki.beaconCert, certFile)
  await until(() => beacon.metrics.certReloads.error >= 1)
  t.equal(await serial(), after, 'a mismatched cert/key pair on disk keeps the old context')
  t.equal(beacon.reloadCertificate(), false)
})

t.test('TLS listener: garbage instead of a handshake is dropped and counted', async (t) => {
  const {beacon, port} = await startBeacon({tls: {certFile: pki.beaconCert, keyFile: pki.beaconKey}})
  t.teardown(() => beacon.close(0))
  const c = new RawClient(port)
  c.sock.write(encodeHello('bridge', hash()))
  await c.closed
  t.equal(beacon.metrics.rejections.tls_handshake, 1)
})

t.test('logs are metadata only: no payload bytes', async (t) => {
  const lines: string[] = []
  const {beacon, port} = await startBeacon({
    logger: (level, event, fields?: LogFields) => lines.push(JSON.stringify({level, event, ...fields})),
  })
  const [a, b] = await pair(port)
  a.sock.write('CANARY-7f3a-in-payload')
  await b.bytes(22)
  a.sock.resetAndDestroy()
  await b.closed
  await until(() => beacon.metrics.connectionsOpen === 0)
  await beacon.close(0)
  t.ok(lines.some((l) => l.includes('"paired"')))
  t.ok(lines.some((l) => l.includes('"pair_closed"')))
  t.notOk(lines.join('\n').includes('CANARY'), 'the payload never reaches a log line')
})

t.test('constructor refuses a missing certificate', async (t) => {
  t.throws(() => new BeaconServer({}), {code: 'BEACON_NO_CERT'})
  t.throws(() => new BeaconServer({tls: {certFile: '/nonexistent', keyFile: '/nonexistent'}}), {code: 'BEACON_CERT_UNREADABLE'})
  t.throws(() => new BeaconServer({plain: true, limits: {maxHelloBytes: 10}}), RangeError)
  const {beacon, port} = await startBeacon()
  t.teardown(() => beacon.close(0))
  await t.rejects(new BeaconServer({plain: true, host: '127.0.0.1', port}).listen(), {code: 'BEACON_LISTEN_FAILED'})
})
