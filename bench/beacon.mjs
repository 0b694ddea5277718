#!/usr/bin/env node
// Beacon relay benchmark, every baseline measured in the same run on 127.0.0.1:
//  1. Throughput of one bulk transfer bridge -> broker through the beacon, against socat (Debian)
//     relaying the same way (both ends dial in: TCP-LISTEN/TCP-LISTEN, and OPENSSL-LISTEN twice for
//     TLS) and against a direct loopback connection. The relay runs in its own process; sender and
//     receiver share one load-generator process (the same for every contender). Ratios are the
//     median over rounds of same-round ratios (see below).
//  2. Pairing latency: a bridge waits, a broker connects; time from the broker's hello to PAIRED
//     (and from TCP connect start, handshake included). p50 and p99.
//  3. Beacon RSS per waiting connection with 10,000 waiting (distinct hashes), after GC.
// Targets (issue): >= 0.8x socat's throughput, p99 pairing < 10 ms, < 50 KB per waiting connection.
// Env: MB (transfer size per round, default 256), ROUNDS (5), PAIRINGS (2000), WAITING (10000).
import {fork, spawn, execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {randomBytes} from 'node:crypto'
import {fileURLToPath} from 'node:url'

const self = fileURLToPath(import.meta.url)

if (process.argv[2] === '--child-beacon') {
  const [mode, certDir] = process.argv.slice(3)
  const {BeaconServer} = await import('../dist/runtime/beacon/server.js')
  const beacon = new BeaconServer({
    host: '127.0.0.1',
    port: 0,
    plain: mode === 'plain',
    tls: mode === 'tls' ? {certFile: join(certDir, 'beacon.crt'), keyFile: join(certDir, 'beacon.key')} : undefined,
    limits: {maxConnectionsPerSource: 100_000, maxWaiting: 100_000, matchTimeoutMs: 600_000, helloTimeoutMs: 60_000},
  })
  const {port} = await beacon.listen()
  process.on('message', (m) => {
    if (m === 'rss') {
      for (let i = 0; i < 3; i++) globalThis.gc?.()
      const mu = process.memoryUsage()
      process.send({heap: mu.heapUsed, external: mu.external, rss: Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024, waiting: beacon.metrics.waiting})
    } else if (m === 'exit') process.exit(0)
  })
  process.send({port})
} else {
  await main()
}

async function main() {
  const MB = Number(process.env.MB ?? 256)
  const ROUNDS = Number(process.env.ROUNDS ?? 5)
  const PAIRINGS = Number(process.env.PAIRINGS ?? 2000)
  const WAITING = Number(process.env.WAITING ?? 10_000)
  const {dialBeacon, exchangeHello} = await import('../dist/runtime/beacon/client.js')
  const certDir = mkdtempSync(join(tmpdir(), 'beacon-bench-'))
  process.on('exit', () => rmSync(certDir, {recursive: true, force: true}))
  const ossl = (...a) => execFileSync('openssl', a, {cwd: certDir, stdio: 'pipe'})
  ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=bench-ca')
  ossl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'beacon.key', '-out', 'beacon.csr', '-subj', '/CN=localhost')
  writeFileSync(join(certDir, 'ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n')
  ossl('x509', '-req', '-in', 'beacon.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'beacon.crt', '-days', '1', '-extfile', 'ext')
  const ca = readFileSync(join(certDir, 'ca.crt'))
  const tlsClient = {ca, servername: 'localhost'}

  const startBeacon = (mode) =>
    new Promise((resolve, reject) => {
      const child = fork(self, ['--child-beacon', mode, certDir], {execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc']})
      child.once('message', (m) => resolve({child, port: m.port, ask: () => new Promise((r) => (child.once('message', r), child.send('rss')))}))
      child.once('error', reject)
    })
  const stopChild = (child) => new Promise((r) => (child.once('exit', r), child.kill('SIGKILL')))

  const freePort = () =>
    new Promise((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const {port} = s.address()
        s.close(() => resolve(port))
      })
    })
  const connectRetry = async (port, useTls) => {
    for (let i = 0; i < 200; i++) {
      try {
        return await new Promise((resolve, reject) => {
          const s = useTls ? tls.connect({...tlsClient, host: '127.0.0.1', port}) : net.connect({host: '127.0.0.1', port})
          s.once(useTls ? 'secureConnect' : 'connect', () => (s.off('error', reject), resolve(s)))
          s.once('error', reject)
        })
      } catch {
        await new Promise((r) => setTimeout(r, 10))
      }
    }
    throw new Error(`cannot connect to ${port}`)
  }

  const block = randomBytes(256 * 1024)
  /** Bulk transfer sender -> receiver; MB/s measured from the first write to the receiver's end. */
  const transfer = (sender, receiver) =>
    new Promise((resolve, reject) => {
      const total = MB * 1024 * 1024
      let got = 0
      const t0 = performance.now()
      receiver.on('data', (c) => (got += c.length))
      receiver.once('end', () => {
        const s = (performance.now() - t0) / 1000
        sender.destroy()
        receiver.destroy()
        if (got !== total) reject(new Error(`received ${got} of ${total} bytes`))
        else resolve(MB / s)
      })
      receiver.resume()
      let sent = 0
      const pump = () => {
        while (sent < total) {
          sent += block.length
          if (!sender.write(block)) return sender.once('drain', pump)
        }
        sender.end()
      }
      pump()
    })

  const contenders = {
    'beacon plain': async () => {
      const {child, port} = await startBeacon('plain')
      const h = randomBytes(32)
      const o = {address: `127.0.0.1:${port}`, infoHash: h, tls: false}
      const [a, b] = await Promise.all([dialBeacon({...o, role: 'bridge'}), dialBeacon({...o, role: 'broker'})])
      try {
        return await transfer(a, b)
      } finally {
        await stopChild(child)
      }
    },
    'socat plain': async () => socatRun(false),
    'direct plain': async () => directRun(false),
    'beacon tls': async () => {
      const {child, port} = await startBeacon('tls')
      const o = {address: `127.0.0.1:${port}`, infoHash: randomBytes(32), tls: tlsClient}
      const [a, b] = await Promise.all([dialBeacon({...o, role: 'bridge'}), dialBeacon({...o, role: 'broker'})])
      try {
        return await transfer(a, b)
      } finally {
        await stopChild(child)
      }
    },
    'socat tls': async () => socatRun(true),
    'direct tls': async () => directRun(true),
  }
  async function socatRun(useTls) {
    const [pa, pb] = [await freePort(), await freePort()]
    const addr = (p) =>
      useTls
        ? `OPENSSL-LISTEN:${p},bind=127.0.0.1,reuseaddr,cert=${join(certDir, 'beacon.crt')},key=${join(certDir, 'beacon.key')},verify=0`
        : `TCP-LISTEN:${p},bind=127.0.0.1,reuseaddr`
    const socat = spawn('socat', [addr(pa), addr(pb)], {stdio: ['ignore', 'ignore', 'inherit']})
    try {
      // socat opens its second address only after the first accepted: dial them in that order.
      const a = await connectRetry(pa, useTls)
      const b = await connectRetry(pb, useTls)
      return await transfer(a, b)
    } finally {
      socat.kill('SIGKILL')
    }
  }
  async function directRun(useTls) {
    const server = useTls
      ? tls.createServer({cert: readFileSync(join(certDir, 'beacon.crt')), key: readFileSync(join(certDir, 'beacon.key'))})
      : net.createServer()
    const accepted = new Promise((r) => server.once(useTls ? 'secureConnection' : 'connection', r))
    await new Promise((r) => server.listen(0, '127.0.0.1', r))
    const a = await connectRetry(server.address().port, useTls)
    const b = await accepted
    try {
      return await transfer(a, b)
    } finally {
      server.close()
    }
  }

  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b)
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
  }
  const pct = (xs, p) => {
    const s = [...xs].sort((a, b) => a - b)
    return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]
  }

  // PARTS=memory (or throughput,latency) runs a subset while investigating; the full run is the report.
  const parts = new Set((process.env.PARTS ?? 'throughput,latency,memory').split(','))
  console.log(`# beacon bench: ${MB} MB per transfer, ${ROUNDS} rounds, ${PAIRINGS} pairings, ${WAITING} waiting; node ${process.version}`)
  // The machine is shared: other work steals CPU at random. Each round runs every contender back
  // to back, alternating the order (ABC, CBA, ...) so slow drift hits both sides of a ratio
  // alike; the reported ratio is the median of per-round ratios, not a ratio of medians.
  const names = Object.keys(contenders)
  const tput = Object.fromEntries(names.map((k) => [k, []]))
  const ratios = {socatPlain: [], socatTls: [], directPlain: [], directTls: []}
  for (let r = 1; r <= ROUNDS && parts.has('throughput'); r++) {
    const order = r % 2 ? names : [...names].reverse()
    const got = {}
    for (const name of order) {
      got[name] = await contenders[name]()
      tput[name].push(got[name])
    }
    ratios.socatPlain.push(got['beacon plain'] / got['socat plain'])
    ratios.socatTls.push(got['beacon tls'] / got['socat tls'])
    ratios.directPlain.push(got['beacon plain'] / got['direct plain'])
    ratios.directTls.push(got['beacon tls'] / got['direct tls'])
    console.log(`round ${r}: ${names.map((n) => `${n} ${got[n].toFixed(0)}`).join(', ')} MB/s`)
  }
  const T = Object.fromEntries(Object.entries(tput).map(([k, v]) => [k, v.length ? median(v) : NaN]))
  const R = Object.fromEntries(Object.entries(ratios).map(([k, v]) => [k, v.length ? median(v) : NaN]))
  if (parts.has('throughput')) console.log('\n## throughput (median of rounds, MB/s)')
  for (const [k, v] of Object.entries(T).filter(() => parts.has('throughput'))) console.log(`${k.padEnd(13)} ${v.toFixed(0)}`)

  // Pairing latency.
  const lat = {plain: {p50: NaN, p99: NaN, c50: NaN, c99: NaN}, tls: {p50: NaN, p99: NaN, c50: NaN, c99: NaN}}
  for (const mode of parts.has('latency') ? ['plain', 'tls'] : []) {
    const {child, port} = await startBeacon(mode)
    const helloToPaired = []
    const connectToPaired = []
    const o = {address: `127.0.0.1:${port}`, tls: mode === 'tls' ? tlsClient : false}
    for (let i = 0; i < PAIRINGS + 50; i++) {
      const h = randomBytes(32)
      let waitingSeen
      const waiting = new Promise((r) => (waitingSeen = r))
      const bridgeP = dialBeacon({...o, role: 'bridge', infoHash: h, onWaiting: waitingSeen})
      await waiting
      const t0 = performance.now()
      const sock = await connectRetry(port, mode === 'tls')
      const t1 = performance.now()
      const broker = await exchangeHello(sock, 'broker', h)
      const t2 = performance.now()
      const bridge = await bridgeP
      if (i >= 50) {
        helloToPaired.push(t2 - t1)
        connectToPaired.push(t2 - t0)
      }
      broker.destroy()
      bridge.destroy()
    }
    lat[mode] = {
      p50: pct(helloToPaired, 50),
      p99: pct(helloToPaired, 99),
      c50: pct(connectToPaired, 50),
      c99: pct(connectToPaired, 99),
    }
    await stopChild(child)
  }
  if (parts.has('latency')) console.log('\n## pairing latency, broker hello -> PAIRED (connect start -> PAIRED, handshake included), ms')
  for (const [m, l] of Object.entries(lat).filter(() => parts.has('latency')))
    console.log(`${m.padEnd(6)} p50 ${l.p50.toFixed(3)} p99 ${l.p99.toFixed(3)}   (p50 ${l.c50.toFixed(3)} p99 ${l.c99.toFixed(3)})`)

  // Memory per waiting connection.
  const mem = {plain: {perConn: NaN}, tls: {perConn: NaN}}
  for (const mode of parts.has('memory') ? (process.env.MEMORY_MODES ?? 'plain,tls').split(',') : []) {
    const {child, port, ask} = await startBeacon(mode)
    // Warm up code paths (one pair) so the baseline includes JIT and pools, not just an idle process.
    {
      const h = randomBytes(32)
      const o = {address: `127.0.0.1:${port}`, infoHash: h, tls: mode === 'tls' ? tlsClient : false}
      const p = await Promise.all([dialBeacon({...o, role: 'bridge'}), dialBeacon({...o, role: 'broker'})])
      p.forEach((s) => s.destroy())
    }
    await new Promise((r) => setTimeout(r, 200))
    const before = await ask()
    const socks = []
    const t0 = performance.now()
    const BATCH = Number(process.env.BATCH ?? 500)
    for (let i = 0; i < WAITING; i += BATCH) {
      const batch = []
      for (let j = i; j < Math.min(WAITING, i + BATCH); j++) {
        batch.push(
          new Promise((resolve, reject) => {
            const s = mode === 'tls' ? tls.connect({...tlsClient, host: '127.0.0.1', port}) : net.connect({host: '127.0.0.1', port})
            s.once('error', reject)
            s.once(mode === 'tls' ? 'secureConnect' : 'connect', () => {
              s.write(Buffer.concat([Buffer.from('CTBN'), Buffer.from([1, 1, 0, 0]), randomBytes(32)]))
              s.once('data', () => resolve(s))
            })
          }),
        )
      }
      socks.push(...(await Promise.all(batch)))
    }
    const fill = performance.now() - t0
    await new Promise((r) => setTimeout(r, 500))
    const after = await ask()
    if (process.env.DEBUG_MEM) console.log('heap/external per conn (B)', (after.heap - before.heap) / WAITING, (after.external - before.external) / WAITING)
    mem[mode] = {perConn: (after.rss - before.rss) / WAITING, before: before.rss, after: after.rss, waiting: after.waiting, fillMs: fill}
    socks.forEach((s) => s.destroy())
    await stopChild(child)
  }
  console.log(`\n## beacon RSS with ${WAITING} waiting connections (after GC)`)
  for (const [m, v] of Object.entries(mem).filter(([, v]) => v.after))
    console.log(
      `${m.padEnd(6)} ${(v.before / 1048576).toFixed(1)} MB -> ${(v.after / 1048576).toFixed(1)} MB with ${v.waiting} waiting: ${(v.perConn / 1024).toFixed(1)} KB per waiting connection (filled in ${(v.fillMs / 1000).toFixed(1)} s)`,
    )

  console.log('\n## ratios (targets: throughput >= 0.80x socat, p99 pairing < 10 ms, < 50 KB per waiting connection)')
  console.log(`beacon/direct throughput (median of per-round ratios) plain: ${R.directPlain.toFixed(2)}x; tls: ${R.directTls.toFixed(2)}x`)
  console.log(`pairing p50/p99 plain: ${lat.plain.p50.toFixed(2)}/${lat.plain.p99.toFixed(2)} ms; tls: ${lat.tls.p50.toFixed(2)}/${lat.tls.p99.toFixed(2)} ms (target p99 < 10)`)
  console.log(`KB per waiting connection plain: ${(mem.plain.perConn / 1024).toFixed(1)}; tls: ${(mem.tls.perConn / 1024).toFixed(1)} (target < 50)`)
  console.log(`beacon/socat plain throughput (median of per-round ratios): ${R.socatPlain.toFixed(2)}x (target >= 0.80)`)
  console.log(`beacon/socat tls throughput (median of per-round ratios): ${R.socatTls.toFixed(2)}x (target >= 0.80)`)
  process.exit(0)
}
