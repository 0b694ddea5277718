import t from 'tap'
import {spawnSync} from 'node:child_process'
import {statSync} from 'node:fs'
import {startAgent} from '../../../lib/ebpf/agent.js'
import {ebpfPolicy, parseReply, registerWithAgent, request} from '../../../lib/ebpf/register.js'
import {agentBinary, buildAgent, tempSocket} from './helpers.js'

const isRoot = process.getuid?.() === 0
/** The agent's log arrives over a pipe: give a line that is on its way a moment. */
async function until(ok: () => boolean, ms = 3000): Promise<boolean> {
  for (const end = Date.now() + ms; !ok() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20))
  return ok()
}

t.test('parseReply', async (t) => {
  t.same(parseReply('OK 42 enforce\n'), {ok: true, pid: 42, mode: 'enforce'})
  t.same(parseReply('OK 7 degraded'), {ok: true, pid: 7, mode: 'degraded'})
  t.same(parseReply('ERR EBPF_NOT_ROOT only root may register'), {ok: false, code: 'EBPF_NOT_ROOT', message: 'only root may register'})
  t.match(parseReply('OK 1 sometimes'), {ok: false, code: 'EBPF_BAD_REPLY'})
  t.match(parseReply(''), {ok: false, code: 'EBPF_BAD_REPLY'})
})

t.test('ebpfPolicy: register only when asked; fail closed unless told open', async (t) => {
  t.same(ebpfPolicy({}), {enabled: false, failClosed: true})
  t.same(ebpfPolicy({'cloudtaser.io/ebpf': 'true'}), {enabled: true, failClosed: true})
  t.same(ebpfPolicy({'cloudtaser.io/ebpf': 'TRUE', 'cloudtaser.io/ebpf-fail': 'open'}), {enabled: true, failClosed: false})
  t.same(ebpfPolicy({'cloudtaser.io/ebpf': 'false', 'cloudtaser.io/ebpf-fail': 'closed'}), {enabled: false, failClosed: true})
  t.throws(() => ebpfPolicy({'cloudtaser.io/ebpf-fail': 'maybe'}), {code: 'EBPF_BAD_ANNOTATION'})
})

t.test('no agent: fail closed throws, fail open reports', async (t) => {
  const socketPath = tempSocket(t)
  await t.rejects(registerWithAgent({socketPath}), {code: 'EBPF_UNAVAILABLE', exitCode: 5})
  const r = await registerWithAgent({socketPath, failClosed: false})
  t.match(r, {protected: false, mode: 'unavailable', reason: /cannot reach the eBPF agent/})
})

t.test('against the real agent', {skip: isRoot ? false : 'the agent needs root'}, async (t) => {
  buildAgent()
  const socketPath = tempSocket(t)
  const log: Record<string, unknown>[] = []
  const agent = await startAgent({mode: 'enforce', socketPath, port: 0, binary: agentBinary, ephemeral: true, log: (e) => log.push(e)})
  t.teardown(() => agent.stop())
  const degraded = Boolean(agent.state.capabilities.degraded)
  t.comment(`agent capabilities: ${JSON.stringify(agent.state.capabilities)}`)

  await t.test('registration outcome follows what the kernel can do', async (t) => {
    if (degraded) {
      await t.rejects(registerWithAgent({socketPath}), {code: 'EBPF_DEGRADED', exitCode: 5, details: {mode: 'degraded'}})
      const r = await registerWithAgent({socketPath, failClosed: false})
      t.match(r, {protected: false, mode: 'degraded', agentPid: process.pid})
    } else {
      t.match(await registerWithAgent({socketPath}), {protected: true, mode: 'enforce', agentPid: process.pid})
    }
    // the agent took our pid from SO_PEERCRED; the request carried none
    t.ok(log.some((e) => e.event === 'registered' && e.pid === process.pid), 'agent logged this process by pid')
  })

  await t.test('unknown request gets a coded error', async (t) => {
    t.equal(await request(socketPath, 'HELLO'), 'ERR EBPF_BAD_REQUEST unknown request')
  })

  await t.test('any user may connect; a registration protects only its caller; STATUS is root-only', async (t) => {
    t.equal(statSync(socketPath).mode & 0o777, 0o666, 'world-connectable socket')
    // A non-root process (nobody) sends three requests, each on its own connection.
    const script = `
      const net = require('net')
      const ask = (line) => new Promise((res) => {
        const s = net.connect(${JSON.stringify(socketPath)}, () => s.write(line + '\\n'))
        let b = ''
        s.on('data', (d) => { b += d; if (b.includes('\\n')) { s.destroy(); res(b.trim()) } })
        s.on('error', (e) => res('CONNECT ' + e.code))
      })
      ;(async () => console.log(JSON.stringify({pid: process.pid, uid: process.getuid(),
        register: await ask('REGISTER'), other: await ask('REGISTER 1'), status: await ask('STATUS')})))()`
    const r = spawnSync(process.execPath, ['-e', script], {uid: 65534, gid: 65534, encoding: 'utf8'})
    const out = JSON.parse(r.stdout) as {pid: number; uid: number; register: string; other: string; status: string}
    t.equal(out.uid, 65534)
    t.equal(out.register, `OK ${out.pid} ${degraded ? 'degraded' : 'enforce'}`, 'registered itself, by its own pid')
    t.match(out.other, /^ERR EBPF_REGISTER_SELF_ONLY a registration protects only the connecting process/, 'naming another pid is refused')
    t.match(out.status, /^ERR EBPF_NOT_ROOT /, 'STATUS (every protected pid on the node) is for root')
    const logged = (f: (e: Record<string, unknown>) => boolean) => until(() => log.some(f))
    t.ok(await logged((e) => e.event === 'registered' && e.pid === out.pid && e.uid === 65534), 'agent logged the non-root registration')
    t.ok(await logged((e) => e.event === 'register_refused' && e.pid === out.pid && e.code === 'EBPF_REGISTER_SELF_ONLY'), 'and the refusal')
    t.match(await request(socketPath, 'STATUS'), /^OK \{/, 'root still gets STATUS')
  })

  await t.test('an agent that does not answer times out', async (t) => {
    const pid = agent.state.agentPid!
    process.kill(pid, 'SIGSTOP')
    try {
      const start = Date.now()
      await t.rejects(registerWithAgent({socketPath, timeoutMs: 300}), {code: 'EBPF_UNAVAILABLE', message: /no reply within 300 ms/})
      t.ok(Date.now() - start < 2000, 'gave up at the timeout')
      t.match(await registerWithAgent({socketPath, timeoutMs: 300, failClosed: false}), {protected: false, mode: 'unavailable'})
    } finally {
      process.kill(pid, 'SIGCONT')
    }
  })
})
