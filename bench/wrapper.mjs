#!/usr/bin/env node
// The wrapper's cost at start and at rest, with the single executable that ships:
// - start-to-exec: wall time until the child (/bin/true) has run and exited, through the wrapper
//   (token auth: lookup-self + one KV read; with its addon, and forced onto the no-addon fallback)
//   vs exec'ing /bin/true directly, same run, rotating order;
//   the two OpenBao round trips are measured separately with the same client library;
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
const {OpenBaoClient} = await import('../dist/lib/openbao/client.js')
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
  const timed = (cmd, args, e) =>
    new Promise((resolve, reject) => {
      const t0 = performance.now()
      const p = spawn(cmd, args, {env: e, stdio: 'ignore'})
      p.once('exit', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`${cmd} exited ${code}`))))
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
          ? await timed('/bin/true', [], {PATH: process.env.PATH})
          : await timed(bin, [], {...env(['/bin/true']), ...(o === 'f' ? {CLOUDTASER_NATIVE_ADDON: '/nonexistent.node'} : {})})
      if (i >= 3) ({d: direct, w: wrapped, f: fallback})[o].push(ms)
    }
  }
  const client = new OpenBaoClient({addr: bao.addr, token: bao.token, tokenSource: 'flag', timeoutMs: 5000, attempts: 1})
  const rtt = []
  for (let i = 0; i < N; i++) {
    const t0 = performance.now()
    await client.call('GET', 'auth/token/lookup-self')
    await client.read('secret/data/bench/db')
    rtt.push(performance.now() - t0)
  }
  await client.close()

  const idle = spawn(bin, [], {env: env(['/bin/sleep', '30']), stdio: 'ignore'})
  await sleep(2000)
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${idle.pid}/status`, 'utf8'))[1])
  idle.kill('SIGTERM')

  const med = (a) => a.toSorted((x, y) => x - y)[Math.floor(a.length / 2)]
  const p90 = (a) => a.toSorted((x, y) => x - y)[Math.floor(a.length * 0.9)]
  console.log(`wrapper single executable ${bin.split('/').pop()} (${(execFileSync('stat', ['-c%s', bin], {encoding: 'utf8'}) / 1e6).toFixed(0)} MB), ${N} runs each, alternating`)
  console.log(`exec /bin/true directly:           median ${med(direct).toFixed(1)} ms  p90 ${p90(direct).toFixed(1)} ms`)
  console.log(`through the wrapper (token auth):  median ${med(wrapped).toFixed(1)} ms  p90 ${p90(wrapped).toFixed(1)} ms`)
  console.log(`  same without its addon (fallback): median ${med(fallback).toFixed(1)} ms  p90 ${p90(fallback).toFixed(1)} ms`)
  console.log(`OpenBao round trips (lookup-self + KV read, warm client): median ${med(rtt).toFixed(1)} ms`)
  const overhead = med(wrapped) - med(direct) - med(rtt)
  console.log(`wrapper overhead beyond the OpenBao round trips: ${overhead.toFixed(1)} ms; target < 50 ms: ${overhead < 50 ? 'met' : 'NOT met'}`)
  console.log(`idle RSS of the wrapper (child sleeping): ${(rss / 1024).toFixed(1)} MiB`)
} finally {
  await bao.stop()
  rmSync(out, {recursive: true, force: true})
}
