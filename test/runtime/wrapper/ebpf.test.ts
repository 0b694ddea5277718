// The wrapper's registration with the real eBPF agent (runtime/ebpf, built here) before it spawns
// the app. On this kind of host the kernel refuses LSM programs, so the agent answers `degraded`:
// a fail-closed wrapper must refuse to start the app, with the reason and what to do; fail-open
// starts it and says it is unprotected. The same as a non-root user (the socket is
// world-connectable). Where the kernel enforces, the wrapper registers (the QEMU VM test of
// runtime/ebpf/vm covers the attack matrix, as root and non-root). Without an agent:
// EBPF_UNAVAILABLE, before OpenBao is asked for anything.
import t from 'tap'
import {startAgent} from '../../../lib/ebpf/agent.js'
import {startOpenBao} from '../../../lib/lab/index.js'
import {bao as call} from '../../lib/lab/helpers.js'
import {agentBinary, buildAgent, tempSocket} from '../../lib/ebpf/helpers.js'
import {CHILD_SCRIPT, runWrapper, type Run} from './helpers.js'

const runs: Run[] = []
t.teardown(() => runs.forEach((r) => r.killAll()))
const env = (addr: string, token: string, extra: Record<string, string>) => ({
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  CLOUDTASER_ORIGINAL_CMD: JSON.stringify([process.execPath, '-e', CHILD_SCRIPT]),
  CLOUDTASER_VAULT_ADDR: addr,
  CLOUDTASER_VAULT_AUTH_METHOD: 'token',
  CLOUDTASER_VAULT_TOKEN: token,
  CLOUDTASER_SECRET_PATHS: 'secret/data/app/db',
  CLOUDTASER_EBPF: 'true',
  ...extra,
})
const start = (e: Record<string, string>, prefix?: string[]) => {
  const r = runWrapper(e, {prefix})
  runs.push(r)
  return r
}
const isRoot = process.getuid?.() === 0
/** The wrapper as uid/gid 65534, as in a container with runAsNonRoot. */
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']
const FAIL_OPEN_HINT = /"hint":"[^"]*cloudtaser\.io\/ebpf-fail: open/

t.test('no agent: fail closed before OpenBao is contacted; a bad ebpf-fail value is a configuration error', async (t) => {
  const socket = tempSocket(t)
  // An OpenBao address nobody listens on: reaching it would end in WRAPPER_START_DEADLINE instead.
  const r = start(env('http://127.0.0.1:1', 'x', {CLOUDTASER_EBPF_SOCKET: socket, CLOUDTASER_START_DEADLINE: '1s'}))
  t.equal(await r.exit, 5)
  t.match(r.stderr.join(''), /"code":"EBPF_UNAVAILABLE","error":"cannot reach the eBPF agent at [^"]*agent.sock/)
  t.match(r.stderr.join(''), FAIL_OPEN_HINT, 'the hint names the way out')
  t.notMatch(r.stderr.join(''), /openbao_retry/, 'OpenBao was never asked')
  t.equal(r.lines.length, 0, 'the app never started')
  const bad = start(env('http://127.0.0.1:1', 'x', {CLOUDTASER_EBPF_SOCKET: socket, CLOUDTASER_EBPF_FAIL: 'sometimes'}))
  t.equal(await bad.exit, 3, 'a bad ebpf-fail value is a configuration error')
})

t.test('no agent, fail open: the app starts with its secrets and the log says it is unprotected', async (t) => {
  const bao = await startOpenBao()
  t.teardown(() => bao.stop())
  await call(bao.addr, bao.token, 'POST', 'secret/data/app/db', {data: {password: 'no-agent'}})
  const r = start(env(bao.addr, bao.token, {CLOUDTASER_EBPF_SOCKET: tempSocket(t), CLOUDTASER_EBPF_FAIL: 'open'}))
  t.equal((await r.waitFor('start')).env!.PASSWORD, 'no-agent')
  t.match(r.stderr.join(''), /"event":"ebpf_unprotected","code":"EBPF_UNAVAILABLE","reason":"cannot reach the eBPF agent/)
  r.proc.kill('SIGTERM')
  t.equal(await r.exit, 42)
})

t.test('against the real agent', {skip: isRoot ? false : 'the agent needs root'}, async (t) => {
  buildAgent()
  const socketPath = tempSocket(t)
  const agentLog: Record<string, unknown>[] = []
  const agent = await startAgent({mode: 'enforce', socketPath, port: 0, binary: agentBinary, ephemeral: true, log: (e) => agentLog.push(e)})
  // The agent's lines arrive over a pipe: give one on its way a moment.
  const agentLogged = async (ok: (e: Record<string, unknown>) => boolean) => {
    for (const end = Date.now() + 3000; !agentLog.some(ok) && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20))
    return agentLog.some(ok)
  }
  const bao = await startOpenBao()
  t.teardown(async () => {
    await agent.stop()
    await bao.stop()
  })
  await call(bao.addr, bao.token, 'POST', 'secret/data/app/db', {data: {password: 'ebpf-test'}})
  const degraded = Boolean(agent.state.capabilities.degraded)
  const closed = start(env(bao.addr, bao.token, {CLOUDTASER_EBPF_SOCKET: socketPath}))
  if (degraded) {
    t.equal(await closed.exit, 5, 'fail closed: a degraded agent stops the start')
    t.match(closed.stderr.join(''), /"code":"EBPF_DEGRADED","error":"the eBPF agent runs degraded/)
    t.match(closed.stderr.join(''), FAIL_OPEN_HINT)
    t.equal(closed.lines.length, 0, 'the app never started')
  } else {
    t.equal((await closed.waitFor('start')).env!.PASSWORD, 'ebpf-test')
    t.match(closed.stderr.join(''), /"event":"ebpf_registered","mode":"enforce"/)
    closed.proc.kill('SIGTERM')
    t.equal(await closed.exit, 42)
  }
  const open = start(env(bao.addr, bao.token, {CLOUDTASER_EBPF_SOCKET: socketPath, CLOUDTASER_EBPF_FAIL: 'open'}))
  t.equal((await open.waitFor('start')).env!.PASSWORD, 'ebpf-test', 'fail open: the app starts')
  if (degraded) t.match(open.stderr.join(''), /"event":"ebpf_unprotected","code":"EBPF_DEGRADED"/)
  open.proc.kill('SIGTERM')
  t.equal(await open.exit, 42)

  // Non-root: the socket lets it in and the agent answers it as it answers root (degraded here:
  // refused with that reason, never EACCES on the socket; enforcing: registered and started).
  const nonRoot = start(env(bao.addr, bao.token, {CLOUDTASER_EBPF_SOCKET: socketPath}), NOBODY)
  if (degraded) {
    t.equal(await nonRoot.exit, 5, 'non-root, fail closed: the agent answered degraded')
    t.match(nonRoot.stderr.join(''), /"code":"EBPF_DEGRADED"/)
    t.equal(nonRoot.lines.length, 0)
  } else {
    const line = await nonRoot.waitFor('start')
    t.equal(line.env!.PASSWORD, 'ebpf-test')
    t.match(nonRoot.stderr.join(''), /"event":"ebpf_registered","mode":"enforce"/)
    nonRoot.proc.kill('SIGTERM')
    t.equal(await nonRoot.exit, 42)
  }
  t.ok(
    await agentLogged((e) => e.event === 'registered' && e.uid === 65534 && e.pid === nonRoot.proc.pid),
    'the agent took the non-root wrapper itself from SO_PEERCRED',
  )
})
