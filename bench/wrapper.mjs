#!/usr/bin/env node
// The wrapper's cost at start and at rest, with the single executable that ships:
// - start-to-exec (the target): wall time from spawning until the child's first output arrives
//   (the child is `/bin/echo x`: its output is the sign it has been exec'd), through the wrapper
//   (token auth: one KV read; with its addon, and forced onto the no-addon fallback) vs spawning
//   /bin/echo directly, same run, rotating order;
// - start-to-exit, for reference: the same until the wrapper itself has exited (adds waiting for
//   the child and the wrapper's own exit);
//   the OpenBao round trips (the KV read before the exec; lookup-self, which a given token's
//   TTL needs, after it) are measured separately with the client the wrapper uses;
// - for reference, the same over TLS (a second OpenBao, dev-tls, its CA in CLOUDTASER_VAULT_CACERT):
//   node:tls, the handshake and the decryption come on top; its round trips are measured as a
//   fresh connection (TCP + TLS handshake + KV read), which the wrapper cannot avoid at start;
// - idle RSS of the wrapper process while its child sleeps.
// Needs `npm run build` first (lab helpers from dist/); builds the executable into a temp dir.
import {execFileSync, spawn} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

const N = Number(process.env.RUNS ?? 30)
const root = new URL('..', import.meta.url).pathname
const {startOpenBao, baoBinary} = await import('../dist/lib/lab/index.js')
const {freePort} = await import('../dist/lib/lab/net.js')
const {BaoClient} = await import('../dist/lib/openbao/bao-client.js')
const {Http1Transport} = await import('../dist/lib/openbao/http1-transport.js')
const out = mkdtempSync(join(tmpdir(), 'cloudtaser-bench-wrapper-'))
const bin = execFileSync(join(root, 'runtime/wrapper/build-sea.sh'), [out], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore']}).trim()
const bao = await startOpenBao()
const tlsDir = mkdtempSync(join(tmpdir(), 'cloudtaser-bench-wrapper-tls-'))
const tlsPort = await freePort()
const tlsBao = spawn(baoBinary(), ['server', '-dev', '-dev-tls', `-dev-tls-cert-dir=${tlsDir}`, '-dev-no-store-token', `-dev-listen-address=127.0.0.1:${tlsPort}`], {
  env: {...process.env, HOME: tlsDir, BAO_DEV_ROOT_TOKEN_ID: 'bench-tls-root'},
  stdio: 'ignore',
})
try {
  await fetch(`${bao.addr}/v1/secret/data/bench/db`, {method: 'POST', headers: {'x-vault-token': bao.token}, body: JSON.stringify({data: {password: 'bench-only', username: 'app'}})})
  const tlsAddr = `https://127.0.0.1:${tlsPort}`
  const tlsCa = join(tlsDir, 'vault-ca.pem')
  const tlsClient = () => {
    const ca = existsSync(tlsCa) ? readFileSync(tlsCa, 'utf8') : undefined
    return new BaoClient({addr: tlsAddr, token: 'bench-tls-root', tokenSource: 'flag', ca, timeoutMs: 5000, attempts: 1}, new Http1Transport({ca}))
  }
  for (let i = 0; ; i++) {
    const c = tlsClient()
    const ok = await c.call('POST', 'secret/data/bench/db', {body: {data: {password: 'bench-only', username: 'app'}}}).then(() => true, () => false)
    await c.close()
    if (ok) break
    if (i > 100) throw new Error('the dev-tls OpenBao did not come up')
    await sleep(100)
  }
  const env = (cmd) => ({
    PATH: process.env.PATH,
    CLOUDTASER_ORIGINAL_CMD: JSON.stringify(cmd),
    CLOUDTASER_VAULT_ADDR: bao.addr,
    CLOUDTASER_VAULT_AUTH_METHOD: 'token',
    CLOUDTASER_VAULT_TOKEN: bao.token,
    CLOUDTASER_SECRET_PATHS: 'secret/data/bench/db',
    CLOUDTASER_ENV_MAP: 'password=PGPASSWORD,username=PGUSER',
  })
  // {exec: ms until the child's first output, exit: ms until the spawned process exited}
  const timed = (cmd, args, e) =>
    new Promise((resolve, reject) => {
      const t0 = performance.now()
      let exec
      const p = spawn(cmd, args, {env: e, stdio: ['ignore', 'pipe', 'ignore']})
      p.stdout.once('data', () => (exec = performance.now() - t0))
      p.stdout.resume()
      p.once('exit', (code) => (code === 0 && exec !== undefined ? resolve({exec, exit: performance.now() - t0}) : reject(new Error(`${cmd} exited ${code}`))))
    })
  const direct = []
  const wrapped = []
  const fallback = []
  const overTls = []
  const tlsEnv = {...env(['/bin/echo', 'x']), CLOUDTASER_VAULT_ADDR: tlsAddr, CLOUDTASER_VAULT_TOKEN: 'bench-tls-root', CLOUDTASER_VAULT_CACERT: tlsCa}
  // Rotating order: direct exec, the wrapper with its embedded addon (memfd_secret + posix_spawn),
  // the wrapper told to load no addon (V8 strings + child_process), the wrapper over TLS.
  const kinds = ['d', 'w', 'f', 't']
  for (let i = 0; i < N + 4; i++) {
    for (const o of [...kinds.slice(i % 4), ...kinds.slice(0, i % 4)]) {
      const ms =
        o === 'd'
          ? await timed('/bin/echo', ['x'], {PATH: process.env.PATH})
          : o === 't'
            ? await timed(bin, [], tlsEnv)
            : await timed(bin, [], {...env(['/bin/echo', 'x']), ...(o === 'f' ? {CLOUDTASER_NATIVE_ADDON: '/nonexistent.node'} : {})})
      if (i >= 4) ({d: direct, w: wrapped, f: fallback, t: overTls})[o].push(ms)
    }
  }
  const tlsFresh = []
  for (let i = 0; i < N; i++) {
    const c = tlsClient()
    const t0 = performance.now()
    await c.read('secret/data/bench/db')
    tlsFresh.push(performance.now() - t0)
    await c.close()
  }
  const client = new BaoClient({addr: bao.addr, token: bao.token, tokenSource: 'flag', timeoutMs: 5000, attempts: 1}, new Http1Transport())
  const lookups = []
  const reads = []
  for (let i = 0; i < N; i++) {
    const t0 = performance.now()
    await client.call('GET', 'auth/token/lookup-self')
    const t1 = performance.now()
    await client.read('secret/data/bench/db')
    lookups.push(t1 - t0)
    reads.push(performance.now() - t1)
  }
  await client.close()

  const idle = spawn(bin, [], {env: env(['/bin/sleep', '30']), stdio: 'ignore'})
  await sleep(2000)
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${idle.pid}/status`, 'utf8'))[1])
  idle.kill('SIGTERM')

  const med = (a) => a.toSorted((x, y) => x - y)[Math.floor(a.length / 2)]
  const p90 = (a) => a.toSorted((x, y) => x - y)[Math.floor(a.length * 0.9)]
  const row = (label, a, k) => console.log(`${label.padEnd(40)} median ${med(a.map((r) => r[k])).toFixed(1)} ms  p90 ${p90(a.map((r) => r[k])).toFixed(1)} ms`)
  console.log(`wrapper single executable ${bin.split('/').pop()} (${(execFileSync('stat', ['-c%s', bin], {encoding: 'utf8'}) / 1e6).toFixed(0)} MB), ${N} runs each, alternating`)
  console.log('start-to-exec (until the child /bin/echo x has written):')
  row('  spawn /bin/echo directly', direct, 'exec')
  row('  through the wrapper (token auth)', wrapped, 'exec')
  row('  same without its addon (fallback)', fallback, 'exec')
  console.log('start-to-exit, for reference (until the spawned process has exited):')
  row('  spawn /bin/echo directly', direct, 'exit')
  row('  through the wrapper', wrapped, 'exit')
  row('  same without its addon (fallback)', fallback, 'exit')
  const [lookup, read] = [med(lookups), med(reads)]
  console.log(`OpenBao round trips (warm client): KV read ${read.toFixed(1)} ms (before the exec), lookup-self ${lookup.toFixed(1)} ms (after it)`)
  const overhead = med(wrapped.map((r) => r.exec)) - med(direct.map((r) => r.exec)) - read
  console.log(`wrapper start-to-exec overhead beyond the OpenBao round trips: ${overhead.toFixed(1)} ms; target < 50 ms: ${overhead < 50 ? 'met' : 'NOT met'}`)
  const exitOverhead = med(wrapped.map((r) => r.exit)) - med(direct.map((r) => r.exit)) - read - lookup
  console.log(`(start-to-exit overhead beyond the round trips: ${exitOverhead.toFixed(1)} ms)`)
  console.log('over TLS, for reference:')
  row('  start-to-exec through the wrapper', overTls, 'exec')
  console.log(`  KV read on a fresh TLS connection (TCP + handshake + request): median ${med(tlsFresh).toFixed(1)} ms`)
  console.log(`  start-to-exec overhead beyond that: ${(med(overTls.map((r) => r.exec)) - med(direct.map((r) => r.exec)) - med(tlsFresh)).toFixed(1)} ms`)
  console.log(`idle RSS of the wrapper (child sleeping): ${(rss / 1024).toFixed(1)} MiB`)
} finally {
  tlsBao.kill('SIGKILL')
  rmSync(tlsDir, {recursive: true, force: true})
  await bao.stop()
  rmSync(out, {recursive: true, force: true})
}
