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
// - idle RSS of the wrapper process while its child sleeps.
// Needs `npm run build` first (lab helpers from dist/); builds the executable into a temp dir.
import {execFileSync, spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

const N = Number(process.env.RUNS ?? 30)
const root = new URL('..', import.meta.url).pathname
const {startOpenBao} = await import('../dist/lib/lab/index.js')
const {BaoClient} = await import('../dist/lib/openbao/bao-client.js')
const {Http1Transport} = await import('../dist/lib/openbao/http1-transport.js')
const out = mkdtempSync(join(tmpdir(), 'cloudtaser-bench-wrapper-'))
const bin = execFileSync(join(root, 'runtime/wrapper/build-sea.sh'), [out], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore']}).trim()
const bao = await startOpenBao()
try {
  await fetch(`${bao.addr}/v1/secret/data/bench/db`, {method: 'POST', headers: {'x-vault-token': bao.token}, body: JSON.stringify({data: {password: 'bench-only', username: 'app'}})})
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
  // Rotating order: direct exec, the wrapper with its embedded addon (memfd_secret + posix_spawn),
  // the wrapper told to load no addon (V8 strings + child_process).
  const kinds = ['d', 'w', 'f']
  for (let i = 0; i < N + 3; i++) {
    for (const o of [...kinds.slice(i % 3), ...kinds.slice(0, i % 3)]) {
      const ms =
        o === 'd'
          ? await timed('/bin/echo', ['x'], {PATH: process.env.PATH})
          : await timed(bin, [], {...env(['/bin/echo', 'x']), ...(o === 'f' ? {CLOUDTASER_NATIVE_ADDON: '/nonexistent.node'} : {})})
      if (i >= 3) ({d: direct, w: wrapped, f: fallback})[o].push(ms)
    }
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
  console.log(`idle RSS of the wrapper (child sleeping): ${(rss / 1024).toFixed(1)} MiB`)
} finally {
  await bao.stop()
  rmSync(out, {recursive: true, force: true})
}
