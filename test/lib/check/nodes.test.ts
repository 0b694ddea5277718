// target check against the real apiserver and the real agent: `ebpf run --node-name` publishes
// its own probe on the Node, `target check` reads it back per node, and the agent removes it on
// stop. On this kind of host the kernel refuses LSM programs, so the agent says degraded; a node
// without an agent says so; exit 1 unless every node enforces.
import t from 'tap'
import {spawn, spawnSync} from 'node:child_process'
import {CoreV1Api} from '@kubernetes/client-node'
import {startControlPlane} from '../../../lib/lab/index.js'
import {nodeReport, verdictOf} from '../../../lib/ebpf/node-report.js'
import {agentBinary, buildAgent, tempSocket} from '../ebpf/helpers.js'
import {eventually} from '../lab/helpers.js'

buildAgent()
const cp = await startControlPlane()
t.teardown(() => cp.stop())
const core = cp.kubeConfig.makeApiClient(CoreV1Api)
for (const name of ['node-a', 'node-b']) await core.createNode({body: {metadata: {name}}})
const env = {...process.env, KUBECONFIG: cp.kubeconfigPath}
const check = () => {
  const r = spawnSync(process.execPath, ['bin/run.js', 'target', 'check', '--json'], {env, encoding: 'utf8'})
  return {status: r.status, json: JSON.parse(r.stdout) as {nodes: Array<{name: string; verdict: string; reason?: string; report?: Record<string, unknown>}>; enforcing: number; kernelProtection: {value: string}}}
}

t.test('verdicts from capabilities', async (t) => {
  t.equal(verdictOf({programs_loaded: true, attached: true, mode: 'enforce'}), 'enforce')
  t.equal(verdictOf({programs_loaded: true, mode: 'detect'}), 'detect')
  t.equal(verdictOf({degraded: true, reason: 'no bpf in lsm list'}), 'degraded')
  const r = nodeReport({degraded: true, reason: 'bpf is not in the active LSM list', kernel: '6.1.0'})
  t.match(r, {verdict: 'degraded', reason: 'bpf is not in the active LSM list', kernel: '6.1.0', cgroup: /^v[12]$/, memfdSecret: /^(yes|no|unknown)$/})
})

t.test('no agent anywhere: each node says so, exit 1, discover would write preferred', async (t) => {
  const r = check()
  t.equal(r.status, 1)
  t.same(r.json.nodes.map((n) => [n.name, n.verdict]), [['node-a', 'no agent'], ['node-b', 'no agent']])
  t.equal(r.json.kernelProtection.value, 'preferred')
})

t.test('the agent publishes its own probe on its node and removes it on stop', async (t) => {
  const agent = spawn(process.execPath, ['bin/run.js', 'ebpf', 'run', '--node-name', 'node-a', '--socket', tempSocket(t), '--port', '0', '--pin-dir', '/sys/fs/bpf/cloudtaser-check-test', '--agent-binary', agentBinary], {env, stdio: ['ignore', 'ignore', 'pipe']})
  let stderr = ''
  agent.stderr.on('data', (c: Buffer) => (stderr += c))
  const exited = new Promise((resolve) => agent.on('exit', resolve))
  t.teardown(() => agent.kill('SIGKILL'))
  await eventually('the agent to publish its report', async () => (/kernel-protection=/.test(stderr) ? true : undefined), 30_000)
  const r = check()
  const a = r.json.nodes.find((n) => n.name === 'node-a')!
  t.equal(a.verdict, 'degraded', 'this kernel refuses BPF LSM programs')
  t.match(a.reason, /\w/, 'with the agent\'s reason')
  t.match(a.report, {programsLoaded: false, cgroup: /^v[12]$/}, 'bpf may be in the LSM list, but the programs did not load')
  t.equal(r.json.nodes.find((n) => n.name === 'node-b')!.verdict, 'no agent')
  t.equal(r.status, 1)
  agent.kill('SIGTERM')
  await exited
  const node = await core.readNode({name: 'node-a'})
  t.notOk(node.metadata?.labels?.['cloudtaser.io/kernel-protection'], 'label removed on stop')
  t.notOk(node.metadata?.annotations?.['cloudtaser.io/kernel-report'], 'report removed on stop')
})
