import t from 'tap'
import {podFromCgroup, resolveAgentBinary, startAgent} from '../../../lib/ebpf/agent.js'
import {registerWithAgent} from '../../../lib/ebpf/register.js'
import {agentBinary, buildAgent, tempSocket} from './helpers.js'

const isRoot = process.getuid?.() === 0

t.test('podFromCgroup: both cgroup drivers', async (t) => {
  t.same(
    podFromCgroup(
      '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1f2e3d4c_5b6a_4789_8abc_0123456789ab.slice/cri-containerd-' +
        'a'.repeat(64) +
        '.scope',
    ),
    {uid: '1f2e3d4c-5b6a-4789-8abc-0123456789ab', container: 'a'.repeat(64)},
  )
  t.same(podFromCgroup(`/kubepods/besteffort/pod1f2e3d4c-5b6a-4789-8abc-0123456789ab/${'b'.repeat(64)}`), {
    uid: '1f2e3d4c-5b6a-4789-8abc-0123456789ab',
    container: 'b'.repeat(64),
  })
  t.same(podFromCgroup('/kubepods/pod1f2e3d4c-5b6a-4789-8abc-0123456789ab'), {uid: '1f2e3d4c-5b6a-4789-8abc-0123456789ab'})
  t.equal(podFromCgroup('/system.slice/sshd.service'), undefined)
  t.equal(podFromCgroup(''), undefined)
})

t.test('an explicit agent path wins', async (t) => {
  t.equal(resolveAgentBinary('/bin/false'), '/bin/false')
})

t.test('an agent that exits before ready fails start with its stderr', async (t) => {
  await t.rejects(startAgent({mode: 'enforce', binary: '/bin/false', port: 0, socketPath: tempSocket(t)}), {
    code: 'EBPF_AGENT_START_FAILED',
    exitCode: 5,
    message: /exited \(code 1\)/,
  })
})

t.test('HTTP endpoints and the enriched log, against the real agent', {skip: isRoot ? false : 'the agent needs root'}, async (t) => {
  buildAgent()
  const socketPath = tempSocket(t)
  const log: Record<string, unknown>[] = []
  const agent = await startAgent({mode: 'enforce', socketPath, port: 0, binary: agentBinary, ephemeral: true, log: (e) => log.push(e)})
  let stopped = false
  t.teardown(async () => {
    if (!stopped) await agent.stop()
  })
  const get = async (p: string): Promise<{status: number; body: string}> => {
    const r = await fetch(`${agent.url}${p}`)
    return {status: r.status, body: await r.text()}
  }
  const caps = agent.state.capabilities
  t.type(caps.bpf_lsm_active, 'boolean', 'capabilities detected at start')
  t.type(caps.btf, 'boolean')
  t.equal(caps.mode, caps.degraded ? 'degraded' : 'enforce')
  if (caps.degraded) t.match(caps.reason, /./, 'degraded mode says why')

  t.match(await get('/healthz'), {status: 200})
  t.match(await get('/readyz'), {status: 200, body: new RegExp(`"degraded":${Boolean(caps.degraded)}`)})
  t.match(await get('/nope'), {status: 404})

  await registerWithAgent({socketPath, failClosed: false})
  const metrics = await get('/metrics')
  t.match(metrics.body, /^cloudtaser_ebpf_up 1$/m)
  t.match(metrics.body, new RegExp(`^cloudtaser_ebpf_degraded ${caps.degraded ? 1 : 0}$`, 'm'))
  t.match(metrics.body, /^cloudtaser_ebpf_registrations_total 1$/m)

  const status = await get('/status')
  t.equal(status.status, 200)
  const body = JSON.parse(status.body) as {agent: {mode: string; counters: {registrations: number}}}
  t.equal(body.agent.mode, caps.degraded ? 'degraded' : 'enforce')
  t.equal(body.agent.counters.registrations, 1)

  t.match(log.map((e) => e.event), ['capabilities', 'ready', 'registered'])
  stopped = true
  const summary = await agent.stop()
  t.match(summary, {exitCode: 0, registrations: 1})
  t.match(log.at(-1), {event: 'stopped'})
})
