#!/usr/bin/env node
// The wrapper against its peer and against no wrapper at all, in one run, against one real
// OpenBao (dev server, plain HTTP, token auth, one KV v2 secret of two fields):
// - binary size: cloudtaser-wrapper (static, Rust) vs the bao binary (`bao agent`);
// - start-to-exec: spawn until the app's first output (`/bin/echo x`: its output is the sign it
//   has been exec'd), for /bin/echo directly, through the wrapper, and through `bao agent` in exec
//   (supervisor) mode with an env_template; medians of RUNS, rotating order. The overhead is the
//   median minus direct exec minus the OpenBao round trips the wrapper must make before the exec
//   (one KV read on a fresh connection, measured in the same run);
// - idle RSS of the supervising process while its child (`sleep`) runs.
// Targets (issue 14): binary < 10 MB, overhead < 5 ms, idle RSS < 8 MiB.
// Needs `npm run build` first (lab helpers from dist/).
import {execFileSync, spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {request} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

const N = Number(process.env.RUNS ?? 30)
const root = new URL('..', import.meta.url).pathname
const {startOpenBao, baoBinary} = await import('../dist/lib/lab/index.js')
const wrapper = execFileSync(join(root, 'runtime/wrapper/build.sh'), {encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit']}).trim()
const baoBin = baoBinary()
const bao = await startOpenBao()
const dir = mkdtempSync(join(tmpdir(), 'cloudtaser-bench-wrapper-'))
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const mb = (bytes) => (bytes / 1e6).toFixed(1)
try {
  await fetch(`${bao.addr}/v1/secret/data/bench/db`, {method: 'POST', headers: {'x-vault-token': bao.token}, body: JSON.stringify({data: {password: 'bench-only', username: 'app'}})})
  const wrapperEnv = (cmd) => ({
    PATH: process.env.PATH,
    CLOUDTASER_ORIGINAL_CMD: JSON.stringify(cmd),
    CLOUDTASER_VAULT_ADDR: bao.addr,
    CLOUDTASER_VAULT_AUTH_METHOD: 'token',
    CLOUDTASER_VAULT_TOKEN: bao.token,
    CLOUDTASER_SECRET_PATHS: 'secret/data/bench/db',
    CLOUDTASER_ENV_MAP: 'password=PGPASSWORD,username=PGUSER',
  })
  // bao agent, exec mode: token from a file, both fields rendered into the child's environment.
  const agentConfig = (cmd) => {
    const file = join(dir, `agent-${cmd.join('-').replace(/\W/g, '')}.hcl`)
    writeFileSync(join(dir, 'token'), bao.token)
    const field = (f) => `{{ with secret "secret/data/bench/db" }}{{ .Data.data.${f} }}{{ end }}`
    writeFileSync(
      file,
      `vault { address = "${bao.addr}" }
auto_auth { method "token_file" { config = { token_file_path = "${join(dir, 'token')}" } } }
template_config { exit_on_retry_failure = true }
env_template "PGPASSWORD" { contents = ${JSON.stringify(field('password'))} }
env_template "PGUSER" { contents = ${JSON.stringify(field('username'))} }
exec { command = ${JSON.stringify(cmd)} restart_on_secret_changes = "never" }
`,
    )
    return file
  }
  const runs = {
    direct: () => ['/bin/echo', ['x'], {PATH: process.env.PATH}],
    wrapper: () => [wrapper, [], wrapperEnv(['/bin/echo', 'x'])],
    'bao agent': () => [baoBin, ['agent', '-log-level=error', `-config=${agentConfig(['/bin/echo', 'x'])}`], {PATH: process.env.PATH, HOME: dir}],
  }
  const timed = (cmd, args, env) =>
    new Promise((resolve, reject) => {
      const t0 = performance.now()
      let exec
      const p = spawn(cmd, args, {env, stdio: ['ignore', 'pipe', 'ignore']})
      p.stdout.once('data', () => (exec = performance.now() - t0))
      p.stdout.resume()
      p.once('exit', (code) => (exec !== undefined ? resolve(exec) : reject(new Error(`${cmd} exited ${code} before its child printed`))))
    })
  // One KV read on a fresh connection: what the wrapper cannot avoid before the exec.
  const kvRead = () =>
    new Promise((resolve, reject) => {
      const t0 = performance.now()
      const u = new URL(`${bao.addr}/v1/secret/data/bench/db`)
      const r = request({host: u.hostname, port: u.port, path: u.pathname, headers: {'x-vault-token': bao.token, connection: 'close'}, agent: false}, (res) => {
        res.resume()
        res.once('end', () => resolve(performance.now() - t0))
      })
      r.once('error', reject)
      r.end()
    })
  const times = Object.fromEntries(Object.keys(runs).map((k) => [k, []]))
  const rt = []
  const kinds = Object.keys(runs)
  for (let i = 0; i < N + 2; i++) {
    for (let j = 0; j < kinds.length; j++) {
      const k = kinds[(i + j) % kinds.length]
      const ms = await timed(...runs[k]())
      if (i >= 2) times[k].push(ms) // two warm-up rounds
    }
    if (i >= 2) rt.push(await kvRead())
  }
  // Idle RSS of the supervisor while its child sleeps.
  const rss = async (cmd, args, env) => {
    const p = spawn(cmd, args, {env, stdio: 'ignore'})
    await sleep(2000)
    const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'))[1])
    p.kill('SIGTERM')
    await new Promise((r) => p.once('exit', r))
    return kb / 1024
  }
  const idle = {
    wrapper: await rss(wrapper, [], wrapperEnv(['/bin/sleep', '30'])),
    'bao agent': await rss(baoBin, ['agent', '-log-level=error', `-config=${agentConfig(['/bin/sleep', '30'])}`], {PATH: process.env.PATH, HOME: dir}),
  }
  const direct = median(times.direct)
  const kv = median(rt)
  const size = {wrapper: statSync(wrapper).size, 'bao agent': statSync(baoBin).size}
  console.log(`wrapper bench: ${N} runs each, medians; OpenBao KV read on a fresh connection ${kv.toFixed(2)} ms`)
  console.log('| | binary | start-to-exec | overhead beyond direct exec + KV read | idle RSS while the child sleeps |')
  console.log('| --- | --- | --- | --- | --- |')
  console.log(`| direct exec | — | ${direct.toFixed(2)} ms | — | — |`)
  for (const k of ['wrapper', 'bao agent']) {
    const m = median(times[k])
    console.log(`| ${k} | ${mb(size[k])} MB | ${m.toFixed(2)} ms | ${(m - direct - kv).toFixed(2)} ms | ${idle[k].toFixed(1)} MiB |`)
  }
  const w = median(times.wrapper) - direct - kv
  console.log(
    `targets: binary ${mb(size.wrapper)} MB < 10 ${size.wrapper < 10e6 ? 'ok' : 'MISSED'}; overhead ${w.toFixed(2)} ms < 5 ${w < 5 ? 'ok' : 'MISSED'}; idle RSS ${idle.wrapper.toFixed(1)} MiB < 8 ${idle.wrapper < 8 ? 'ok' : 'MISSED'}`,
  )
  console.log(`ratios vs bao agent: binary ${(size.wrapper / size['bao agent']).toFixed(3)}x, start-to-exec ${(median(times.wrapper) / median(times['bao agent'])).toFixed(3)}x, idle RSS ${(idle.wrapper / idle['bao agent']).toFixed(3)}x`)
} finally {
  await bao.stop()
  rmSync(dir, {recursive: true, force: true})
}
