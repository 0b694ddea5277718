#!/usr/bin/env node
// Throughput of PutObject/GetObject through the S3 proxy vs straight to the S3 server (versitygw
// on loopback) vs `openssl speed -evp aes-256-gcm` on one core, all in one run, and the proxy's
// RSS while a 1 GiB object goes up and comes back. The proxy runs as `cloudtaser s3-proxy run`
// in its own process, with the sidecar's process settings (S3_PROXY_PROCESS_ENV; its RSS is
// sampled from /proc). The client is @aws-sdk/client-s3 with
// checksums only when required, so neither path pays for the SDK's JavaScript CRC32.
// Needs `npm run build` first (imports dist/). SIZES_MB (default 8,64), ROUNDS (default 3),
// BIG_MB (default 1024; 0 skips the RSS run), UPSTREAM_PAYLOAD (streaming or unsigned; default: the
// proxy's own), BASELINE_DIR (another built checkout whose proxy is measured in the same run).
import {execFileSync, spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import {CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client} from '@aws-sdk/client-s3'
import {startOpenBao, startS3Server} from '../dist/lib/lab/index.js'
import {S3_PROXY_PROCESS_ENV} from '../dist/runtime/operator/s3-sidecar.js'

const SIZES = (process.env.SIZES_MB ?? '8,64').split(',').map(Number)
const ROUNDS = Number(process.env.ROUNDS ?? 3)
const BIG_MB = Number(process.env.BIG_MB ?? 1024)
const MiB = 1024 * 1024
const sidecarEnv = Object.fromEntries(S3_PROXY_PROCESS_ENV.map((e) => [e.name, e.value]))

const [bao, s3] = await Promise.all([startOpenBao(), startS3Server()])
const stopAll = []
process.on('exit', () => stopAll.forEach((f) => f()))
try {
  const baoHeaders = {'x-vault-token': bao.token, 'content-type': 'application/json'}
  await fetch(`${bao.addr}/v1/sys/mounts/transit`, {method: 'POST', headers: baoHeaders, body: JSON.stringify({type: 'transit'})})
  await fetch(`${bao.addr}/v1/transit/keys/bench`, {method: 'POST', headers: baoHeaders, body: '{}'})
  const pod = {accessKeyId: 'BENCHPOD', secretAccessKey: randomBytes(24).toString('base64url')}
  // The proxy of this checkout, and optionally the one of another built checkout (BASELINE_DIR) for an A/B in one run.
  const startProxy = async (dir) => {
    const proxy = spawn(process.execPath, [`${dir}/bin/run.js`, 's3-proxy', 'run', '--port', '0', '--ops-port', '0', '--ops-host', '127.0.0.1', '--upstream', s3.endpoint, '--bao-auth', 'token', '--transit-key', 'bench', ...(process.env.UPSTREAM_PAYLOAD ? ['--upstream-payload', process.env.UPSTREAM_PAYLOAD] : [])], {
      env: {
        ...process.env,
        // The process settings the sidecar runs with; e.g. PROXY_NODE_OPTIONS=--cpu-prof to profile the proxy alone.
        ...sidecarEnv,
        NODE_OPTIONS: [sidecarEnv.NODE_OPTIONS, process.env.PROXY_NODE_OPTIONS].filter(Boolean).join(' '),
        BAO_ADDR: bao.addr,
        BAO_TOKEN: bao.token,
        CLOUDTASER_S3_ACCESS_KEY_ID: pod.accessKeyId,
        CLOUDTASER_S3_SECRET_ACCESS_KEY: pod.secretAccessKey,
        CLOUDTASER_S3_UPSTREAM_ACCESS_KEY_ID: s3.accessKeyId,
        CLOUDTASER_S3_UPSTREAM_SECRET_ACCESS_KEY: s3.secretAccessKey,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    stopAll.push(() => proxy.kill('SIGKILL'))
    const url = await new Promise((resolve, reject) => {
      let err = ''
      proxy.stderr.on('data', (c) => {
        err += c
        const line = err.split('\n').find((l) => l.includes('"listening"'))
        if (line) resolve(JSON.parse(line).url)
      })
      proxy.once('exit', (code) => reject(new Error(`proxy exited ${code}: ${err}`)))
    })
    return {proxy, url}
  }
  const mine = await startProxy('.')
  const base = process.env.BASELINE_DIR ? await startProxy(process.env.BASELINE_DIR) : undefined
  const client = (endpoint, credentials) =>
    new S3Client({endpoint, region: 'us-east-1', forcePathStyle: true, credentials, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED'})
  const viaProxy = client(mine.url, pod)
  const viaBase = base && client(base.url, pod)
  const direct = client(s3.endpoint, {accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey})
  await direct.send(new CreateBucketCommand({Bucket: 'bench'}))

  const block = randomBytes(MiB)
  const body = (bytes) =>
    Readable.from(
      (function* () {
        for (let left = bytes; left > 0; left -= MiB) yield left >= MiB ? block : block.subarray(0, left)
      })(),
    )
  const put = async (c, key, bytes) => {
    const t0 = process.hrtime.bigint()
    await c.send(new PutObjectCommand({Bucket: 'bench', Key: key, Body: body(bytes), ContentLength: bytes}))
    return Number(process.hrtime.bigint() - t0) / 1e9
  }
  const get = async (c, key, bytes) => {
    const t0 = process.hrtime.bigint()
    const r = await c.send(new GetObjectCommand({Bucket: 'bench', Key: key}))
    let n = 0
    for await (const chunk of r.Body) n += chunk.length
    if (n !== bytes) throw new Error(`${key}: got ${n} of ${bytes} bytes`)
    return Number(process.hrtime.bigint() - t0) / 1e9
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const mbps = (bytes, s) => bytes / MiB / s

  // openssl on one core, 64 KiB blocks (the proxy's segment size).
  const speed = execFileSync('openssl', ['speed', '-elapsed', '-seconds', '2', '-bytes', '65536', '-evp', 'aes-256-gcm'], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore']})
  const kbps = Number(/aes-256-gcm\s+([\d.]+)k/i.exec(speed)?.[1])
  const openssl = (kbps * 1000) / MiB
  console.log(`openssl speed -evp aes-256-gcm, 64 KiB blocks, one core: ${openssl.toFixed(0)} MiB/s`)

  // Paths measured in turn, the order rotated every round (the machine may be shared).
  const paths = [['Proxy', viaProxy, mine.proxy.pid], ...(viaBase ? [['Base', viaBase, base.proxy.pid]] : []), ['Direct', direct]]
  // CPU seconds a process used (user + system, all its threads): per MiB moved, it depends less on
  // how busy the rest of the machine is than the wall-clock rates do.
  const cpuOf = (pid) => (pid ? readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ').slice(11, 13).reduce((s, v) => s + Number(v), 0) / 100 : 0)
  // One unmeasured 8 MiB round trip per path first: JIT warm-up and connection set-up are not per-MiB costs.
  for (const [name, c] of paths) {
    await put(c, `warm-${name}`, 8 * MiB)
    await get(c, `warm-${name}`, 8 * MiB)
  }
  const rows = []
  for (const mb of SIZES) {
    const bytes = mb * MiB
    const t = {}
    const zero = () => ({client: 0, server: 0, proxy: 0})
    for (const [name] of paths) t[name] = {put: [], get: [], putCpu: zero(), getCpu: zero()}
    // CPU seconds of the three processes: this one (the client), versitygw, the proxy of the path.
    const cpus = (pid) => {
      const u = process.cpuUsage()
      return {client: (u.user + u.system) / 1e6, server: cpuOf(s3.process.pid), proxy: cpuOf(pid)}
    }
    const add = (acc, a, b) => {
      for (const k of Object.keys(acc)) acc[k] += b[k] - a[k]
    }
    for (let r = 0; r < ROUNDS; r++) {
      for (let k = 0; k < paths.length; k++) {
        const [name, c, pid] = paths[(r + k) % paths.length]
        let before = cpus(pid)
        t[name].put.push(await put(c, `o-${name}-${mb}`, bytes))
        add(t[name].putCpu, before, cpus(pid))
        before = cpus(pid)
        t[name].get.push(await get(c, `o-${name}-${mb}`, bytes))
        add(t[name].getCpu, before, cpus(pid))
      }
    }
    const rate = (name, op) => mbps(bytes, median(t[name][op]))
    const row = {sizeMiB: mb}
    for (const [name] of paths) for (const op of ['put', 'get']) row[`${op}${name}`] = rate(name, op)
    rows.push(row)
    const cell = (op, name) => `${name.toLowerCase()} ${row[op + name].toFixed(0)} MiB/s (${(row[op + name] / row[op + 'Direct']).toFixed(2)}x)`
    const line = (op) => [...paths.filter(([n]) => n !== 'Direct').map(([n]) => cell(op, n)), `direct ${row[op + 'Direct'].toFixed(0)} MiB/s`].join(', ')
    console.log(`${String(mb).padStart(5)} MiB  put ${line('put')}   get ${line('get')}   (target >= 0.7x)`)
    const perMiB = (x) => (1000 * x) / (mb * ROUNDS)
    for (const op of ['put', 'get']) {
      const parts = paths.map(([name, , pid]) => {
        const u = t[name][`${op}Cpu`]
        row[`${op}Cpu${name}`] = {client: perMiB(u.client), server: perMiB(u.server), ...(pid ? {proxy: perMiB(u.proxy)} : {})}
        return `${name.toLowerCase()} ${[u.client, u.server, ...(pid ? [u.proxy] : [])].map((x) => perMiB(x).toFixed(2)).join(' + ')}`
      })
      console.log(`           ${op} CPU ms per MiB (client + server [+ proxy]): ${parts.join(', ')}`)
      // The path's CPU per MiB (client, server and proxy together) against the direct path's: the
      // throughput ratio the two would reach if both were CPU-bound, as they are on a busy node.
      // It moves far less with the machine's load than the wall-clock ratio (docs/s3-proxy.md).
      const sum = (name) => Object.values(row[`${op}Cpu${name}`]).reduce((a, b) => a + b, 0)
      const others = paths.filter(([n]) => n !== 'Direct')
      for (const [n] of others) row[`${op}CpuRatio${n}`] = sum('Direct') / sum(n)
      console.log(`           ${op} CPU-bound ratio (direct path's CPU per MiB / this path's): ${others.map(([n]) => `${n.toLowerCase()} ${row[`${op}CpuRatio${n}`].toFixed(2)}x`).join(', ')}`)
    }
  }

  // The same objects with curl (--aws-sigv4), a client in C that costs almost no CPU per MiB: the
  // SDK's own ~2 ms per MiB shares the cores with the proxy above; here the proxy's own cost shows.
  const dir = mkdtempSync(join(tmpdir(), 's3-bench-'))
  try {
    const endpoints = [['Proxy', mine.url, pod], ...(base ? [['Base', base.url, pod]] : []), ['Direct', s3.endpoint, {accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey}]]
    const curl = (creds, args) =>
      Number(execFileSync('curl', ['-sS', '--fail', '-o', '/dev/null', '--aws-sigv4', 'aws:amz:us-east-1:s3', '--user', `${creds.accessKeyId}:${creds.secretAccessKey}`, '-H', 'x-amz-content-sha256: UNSIGNED-PAYLOAD', '-w', '%{time_total}', ...args], {encoding: 'utf8'}))
    for (const mb of SIZES) {
      const file = join(dir, `${mb}`)
      writeFileSync(file, Buffer.concat(Array.from({length: Math.ceil(mb)}, () => block)).subarray(0, mb * MiB))
      const t = Object.fromEntries(endpoints.map(([n]) => [n, {put: [], get: []}]))
      for (let r = 0; r < ROUNDS; r++) {
        for (let k = 0; k < endpoints.length; k++) {
          const [name, url, creds] = endpoints[(r + k) % endpoints.length]
          t[name].put.push(curl(creds, ['-T', file, `${url}/bench/curl-${name}-${mb}`]))
          t[name].get.push(curl(creds, [`${url}/bench/curl-${name}-${mb}`]))
        }
      }
      const row = rows.find((x) => x.sizeMiB === mb)
      for (const [name] of endpoints) for (const op of ['put', 'get']) row[`curl${op}${name}`] = mbps(mb * MiB, median(t[name][op]))
      const line = (op) => endpoints.map(([n]) => `${n.toLowerCase()} ${row[`curl${op}${n}`].toFixed(0)} MiB/s${n === 'Direct' ? '' : ` (${(row[`curl${op}${n}`] / row[`curl${op}Direct`]).toFixed(2)}x)`}`).join(', ')
      console.log(`${String(mb).padStart(5)} MiB  curl: put ${line('put')}   get ${line('get')}`)
    }
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }

  if (BIG_MB > 0) {
    for (const [name, c, pid] of [['proxy', viaProxy, mine.proxy.pid], ...(base ? [['base', viaBase, base.proxy.pid]] : [])]) {
      const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024
      const sample = async (f) => {
        const samples = []
        const timer = setInterval(() => samples.push(rss()), 100)
        const s = await f()
        clearInterval(timer)
        return {s, max: Math.max(...samples), min: Math.min(...samples)}
      }
      const before = rss()
      const up = await sample(() => put(c, `big-${name}`, BIG_MB * MiB))
      const down = await sample(() => get(c, `big-${name}`, BIG_MB * MiB))
      console.log(
        `${BIG_MB} MiB through the ${name}: put ${mbps(BIG_MB * MiB, up.s).toFixed(0)} MiB/s, get ${mbps(BIG_MB * MiB, down.s).toFixed(0)} MiB/s; RSS before ${before.toFixed(0)} MB, during put ${up.min.toFixed(0)}-${up.max.toFixed(0)} MB, during get ${down.min.toFixed(0)}-${down.max.toFixed(0)} MB (target < 100 MB, flat)`,
      )
    }
  }
  for (const c of [viaProxy, viaBase, direct]) c?.destroy()
  for (const p of [mine, base]) p?.proxy.kill('SIGTERM')
} finally {
  await Promise.all([bao.stop(), s3.stop()])
}
