// Failure behaviour on the lab's node, after the demo's workflow has left Debian's Redis and its
// client protected (lab up, images, target install, discover, apply-plan, protect):
// (i) a wrong OpenBao address in a workload's annotations: that Pod does not start, says why in
//     its termination message, events and logs, `target status` and `target debug` name it, and
//     the other protected Pods keep running untouched;
// (ii) `helm upgrade` in place (`target install` with a changed operator value) rolls the operator
//     and restarts no protected Pod.
import t from 'tap'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import jsyaml from 'js-yaml'
import {AppsV1Api, CoreV1Api, KubeConfig, type V1Pod} from '@kubernetes/client-node'
import {Annotations} from '../../lib/annotations.js'
import {root, sleep, startLabSession, until} from './lab-session.js'

const {work, env, labEnv, installArgs, run, cli, kubectl} = startLabSession(t, 'failures', 'failures@cloudtaser')
const NS = 'redis-demo'

// ---- the demo's workflow, up to a protected Redis and client (failures here are setup errors)
const manifest = join(root, 'examples/demo/redis.yaml')
const objects = jsyaml.loadAll(readFileSync(manifest, 'utf8')).filter(Boolean) as Array<{kind: string; stringData?: Record<string, string>}>
kubectl(['apply', '-f', manifest])
kubectl(['-n', NS, 'rollout', 'status', 'deployment/redis', 'deployment/redis-client', '--timeout=180s'])
const planFile = join(work, 'plan.yaml')
cli(['target', 'discover', '-o', planFile, '--cluster-name', 'lab', '--vault-address', labEnv.BAO_ADDR!])
cli(['source', 'apply-plan', planFile])
const plan = jsyaml.load(readFileSync(planFile, 'utf8')) as {tenants: Array<{workloads: Array<{secrets: Array<{vaultPath: string}>}>}>}
const values = objects.find((o) => o.kind === 'Secret')!.stringData!
for (const p of new Set(plan.tenants.flatMap((x) => x.workloads.flatMap((w) => w.secrets.map((s) => s.vaultPath))))) {
  run(join(env.CLOUDTASER_LAB_DIR!, 'bin/bao'), ['kv', 'put', p.replace('/data/', '/'), '-'], {input: JSON.stringify(values)})
}
cli(['target', 'protect', '--plan', planFile, '--yes', '--wait'])
const kc = new KubeConfig()
kc.loadFromFile(env.KUBECONFIG!)
const apps = kc.makeApiClient(AppsV1Api)
const core = kc.makeApiClient(CoreV1Api)
const isReady = (p: V1Pod) => Boolean(p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
/** The demo's protected Pods: UID and restart count per container, once the old Pods are gone. */
const protectedPods = async () => {
  const pods = (await core.listNamespacedPod({namespace: NS, labelSelector: 'app in (redis, redis-client)'})).items
  return pods.map((p) => ({
    name: p.metadata!.name!,
    uid: p.metadata!.uid!,
    ready: isReady(p),
    deleting: Boolean(p.metadata!.deletionTimestamp),
    restarts: Object.fromEntries((p.status?.containerStatuses ?? []).map((c) => [c.name, c.restartCount])),
  }))
}
const before = await until('the protected Pods alone and Ready', async () => {
  const pods = await protectedPods()
  return pods.length === 2 && pods.every((p) => p.ready && !p.deleting) ? pods : undefined
})

t.test('a wrong OpenBao address: that Pod does not start and says why; target status names it; the other Pods keep running', async (t) => {
  const template = (await apps.readNamespacedDeployment({name: 'redis', namespace: NS})).spec!.template
  const wrong = 'http://openbao.wrong.invalid:8200'
  // The wrapper waits 60 s for OpenBao by default; 3 s keeps the test short (the same path).
  template.metadata = {...template.metadata, labels: {...template.metadata!.labels, app: 'redis-wrong-addr'}, annotations: {...template.metadata!.annotations, [Annotations.vaultAddress]: wrong, [Annotations.startDeadline]: '3s'}}
  await apps.createNamespacedDeployment({namespace: NS, body: {metadata: {name: 'redis-wrong-addr'}, spec: {replicas: 1, selector: {matchLabels: {app: 'redis-wrong-addr'}}, template}}})
  t.teardown(() => apps.deleteNamespacedDeployment({name: 'redis-wrong-addr', namespace: NS}).then(() => {}))

  const pod = await until('the wrapper to exit with its reason', async () => {
    const [p] = (await core.listNamespacedPod({namespace: NS, labelSelector: 'app=redis-wrong-addr'})).items
    const c = p?.status?.containerStatuses?.find((x) => x.name === 'redis')
    return c?.lastState?.terminated || c?.state?.terminated ? p : undefined
  })
  const c = pod.status!.containerStatuses!.find((x) => x.name === 'redis')!
  const terminated = (c.lastState?.terminated ?? c.state?.terminated)!
  t.equal(terminated.exitCode, 5, 'exit 5: OpenBao unavailable')
  t.match(terminated.message, /^WRAPPER_START_DEADLINE: OpenBao stayed unreachable for 3s: .*openbao\.wrong\.invalid.*\(The application was not started without its secrets/s, 'the termination message says why')
  t.notOk(isReady(pod), 'never Ready')
  const describe = kubectl(['-n', NS, 'describe', 'pod', pod.metadata!.name!]).stdout
  t.match(describe, /Message:\s+WRAPPER_START_DEADLINE: OpenBao stayed unreachable/, 'kubectl describe shows the reason')
  const logs = kubectl(['-n', NS, 'logs', pod.metadata!.name!, '-c', 'redis', '--previous'], {allowFail: true}).stdout + kubectl(['-n', NS, 'logs', pod.metadata!.name!, '-c', 'redis'], {allowFail: true}).stdout
  t.match(logs, /"event":"start_failed","code":"WRAPPER_START_DEADLINE"/, 'the wrapper logged it')
  t.notMatch(logs, /"event":"child_started"/, 'Redis never started without its password')

  // The kubelet backs off and restarts it: the Pod's events say so.
  await until('a BackOff event', async () => (/BackOff/.test(kubectl(['-n', NS, 'get', 'events', '--field-selector', `involvedObject.name=${pod.metadata!.name}`]).stdout) ? true : undefined), 120_000)
  const status = await until('target status to name the workload', async () => {
    const r = cli(['target', 'status', '--json'], {allowFail: true})
    const report = JSON.parse(r.stdout) as {problems: string[]}
    const line = report.problems.find((p) => p.startsWith(`Deployment ${NS}/redis-wrong-addr:`) && /CrashLoopBackOff/.test(p))
    return line ? {r, line} : undefined
  })
  t.equal(status.r.status, 1, 'target status exits 1')
  t.match(status.line, /last exit 5: WRAPPER_START_DEADLINE: OpenBao stayed unreachable/, `status carries the reason: ${status.line}`)

  // target debug: the operator's leader says the same, and that the address does not answer from inside the cluster.
  const debug = cli(['target', 'debug', 'deployment/redis-wrong-addr', '-n', NS, '--json'], {allowFail: true})
  t.equal(debug.status, 1, 'target debug exits 1')
  const report = JSON.parse(debug.stdout) as {status: {phase: string; findings: string[]; pods: Array<{injection: {wrapped: boolean}; connectivity: {address: string; reachable: boolean; detail: string}}>}}
  t.equal(report.status.phase, 'Complete')
  t.match(report.status.pods[0], {injection: {wrapped: true}, connectivity: {address: wrong, reachable: false, detail: /ENOTFOUND|EAI_AGAIN/}})
  t.ok(report.status.findings.some((f) => /container redis: .*last exit 5: WRAPPER_START_DEADLINE: OpenBao stayed unreachable/.test(f)), `the wrapper's reason: ${report.status.findings.join(' | ')}`)
  t.ok(report.status.findings.some((f) => f.includes(`OpenBao at ${wrong} does not answer from the operator's network`)), 'the probe\'s verdict')
  const healthy = JSON.parse(cli(['target', 'debug', 'deployment/redis', '-n', NS, '--json']).stdout) as {status: {findings: string[]; pods: Array<{connectivity: {reachable: boolean}}>}}
  t.same(healthy.status.findings, [], 'the healthy Redis: no finding')
  t.equal(healthy.status.pods[0]!.connectivity.reachable, true, 'its OpenBao answers from the operator\'s network')

  const after = await protectedPods()
  t.same(after, before, 'the other protected Pods: same UIDs, no restarts, still Ready')
  t.match(kubectl(['-n', NS, 'logs', 'deployment/redis-client', '-c', 'redis-cli', '--tail=1']).stdout, /^authenticated: hello-from-redis-cli/, 'the client still authenticates')
  const status2 = JSON.parse(cli(['target', 'status', '--json'], {allowFail: true}).stdout) as {problems: string[]}
  t.same(status2.problems.filter((p) => p.includes(`${NS}/redis `) || p.includes(`${NS}/redis-client`)), [], 'no problem reported for the healthy workloads')
})

t.test('helm upgrade in place (target install with a changed operator value): the operator rolls, no protected Pod restarts', async (t) => {
  const operatorPod = async () => (await core.listNamespacedPod({namespace: 'cloudtaser-system', labelSelector: 'app.kubernetes.io/component=operator'})).items.filter((p) => !p.metadata!.deletionTimestamp)
  const [opBefore] = await operatorPod()
  const start = await protectedPods()
  const r = cli([...installArgs, '--set', 'operator.podAnnotations.upgraded=yes'])
  t.match(r.stdout, /STATUS: deployed/)
  t.match(r.stdout, /REVISION: 2/, 'an upgrade of the same release')
  const [opAfter] = await until('the new operator Pod alone and Ready', async () => {
    const pods = await operatorPod()
    return pods.length === 1 && pods[0]!.metadata!.uid !== opBefore!.metadata!.uid && isReady(pods[0]!) ? pods : undefined
  })
  t.equal(opAfter!.metadata!.annotations?.upgraded, 'yes', 'the operator runs with the new value')
  // Long enough for the webhook's restart to reach anything it could (the wrapper's poll is 30 s
  // and sees no OpenBao change; the kubelet restarts nothing whose spec did not change).
  await sleep(15_000)
  t.same(await protectedPods(), start, 'same UIDs, no restarts, all Ready')
  const status = JSON.parse(cli(['target', 'status', '--json'], {allowFail: true}).stdout) as {operator: {ready: number}; webhook: {reachable?: {ok: boolean}}; workloads: Array<{name: string; wrapped: number; pods: number}>}
  t.equal(status.operator.ready, 1)
  t.equal(status.webhook.reachable?.ok, true, 'the new operator answers admission')
  t.same(status.workloads.filter((w) => w.name.startsWith('redis')).map((w) => [w.name, w.wrapped, w.pods]).sort(), [['redis', 1, 1], ['redis-client', 1, 1]])
})
