// Diagnostics against the lab's real kube-apiserver (no node: protected Pods stay Pending, as on
// a cluster whose nodes cannot take them): the operator's leader fills DebugReports that
// `target debug` creates, puts a NoEnforcingNode event on a protected Pod that requires an
// enforcing node when none exists, and deletes a report past its TTL. The CRD is the chart's.
import t from 'tap'
import {createServer} from 'node:net'
import {AppsV1Api, CoreV1Api, CustomObjectsApi} from '@kubernetes/client-node'
import {kubeHttp} from '../../../lib/kube/http.js'
import {Annotations, INJECT_LABEL} from '../../../lib/annotations.js'
import type {DebugReport} from '../../../lib/debug/report.js'
import {startControlPlane} from '../../../lib/lab/index.js'
import {startOperator, type LogFields} from '../../../runtime/operator/server.js'
import {NO_ENFORCING_NODE} from '../../../runtime/operator/diagnostics/findings.js'
import {render, one} from '../../charts/helpers.js'
import {runCli} from '../../helpers/cli.js'
import {eventually} from '../../lib/lab/helpers.js'

const [cp, rendering] = await Promise.all([startControlPlane(), render()])
t.teardown(() => cp.stop())
const core = cp.kubeConfig.makeApiClient(CoreV1Api)
const apps = cp.kubeConfig.makeApiClient(AppsV1Api)
const custom = cp.kubeConfig.makeApiClient(CustomObjectsApi)
// Raw, as kubectl would send it: the typed client's serializer drops x-kubernetes-* keys it maps to camelCase.
const crd = await (await kubeHttp(cp.kubeConfig)).send('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {body: Buffer.from(JSON.stringify(one(rendering.objects, 'CustomResourceDefinition')))})
if (crd.status !== 201) throw new Error(`creating the chart's CRD: HTTP ${crd.status}: ${crd.bytes.toString()}`)
await eventually('the DebugReport resource served', async () => custom.listClusterCustomObject({group: 'cloudtaser.io', version: 'v1alpha1', plural: 'debugreports'}).then(() => true))

// A port nothing listens on: the address a wrong plan would give the wrapper.
const closedPort = await new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const {port} = s.address() as {port: number}
    s.close(() => resolve(port))
  })
})
const logs: {level: string; event: string; fields?: LogFields}[] = []
const op = await startOperator({
  mutation: {wrapperImage: 'registry.local/cloudtaser-wrapper:test', wrapperSource: '/cloudtaser-wrapper'},
  host: '127.0.0.1',
  port: 0,
  register: true,
  kubeConfig: cp.kubeConfig,
  failurePolicy: 'Fail',
  timeoutSeconds: 5,
  excludeNamespaces: ['kube-system', 'cloudtaser-system'],
  diagnostics: true,
  log: (level, event, fields) => void logs.push({level, event, fields}),
})
t.teardown(() => op.close())
await core.createNamespace({body: {metadata: {name: 'apps'}}})
const env = {KUBECONFIG: cp.kubeconfigPath}
const debug = async (...args: string[]) => {
  const r = await runCli(['target', 'debug', ...args, '--json'], {env})
  return {...r, report: r.stdout ? (JSON.parse(r.stdout) as DebugReport & {error?: {code: string}}) : undefined}
}

const protectedTemplate = (name: string, annotations: Record<string, string>) => ({
  metadata: {name, namespace: 'apps'},
  spec: {
    replicas: 1,
    selector: {matchLabels: {app: name}},
    template: {
      metadata: {labels: {app: name, [INJECT_LABEL]: 'true'}, annotations: {[Annotations.vaultAddress]: `http://127.0.0.1:${closedPort}`, [Annotations.secretPaths]: 'secret/data/apps/db', [Annotations.envMap]: 'password=PGPASSWORD', ...annotations}},
      spec: {containers: [{name: 'app', image: 'registry.local/app:1', command: ['/app']}]},
    },
  },
})

t.test('a protected Pod that requires enforcement, no enforcing node: a NoEnforcingNode event, and target debug says why and what OpenBao answers', async (t) => {
  await apps.createNamespacedDeployment({namespace: 'apps', body: protectedTemplate('strict', {[Annotations.ebpf]: 'true'})})
  const [pod] = await eventually('the wrapped Pod', async () => {
    const l = await core.listNamespacedPod({namespace: 'apps', labelSelector: 'app=strict'})
    return l.items.length ? l.items : undefined
  })
  const event = await eventually('the NoEnforcingNode event', async () => {
    const l = await core.listNamespacedEvent({namespace: 'apps', fieldSelector: `involvedObject.uid=${pod!.metadata!.uid}`})
    return l.items.find((e) => e.reason === NO_ENFORCING_NODE)
  })
  t.equal(event.type, 'Warning')
  t.match(event.message, /requires kernel enforcement .* no node is labelled cloudtaser\.io\/kernel-protection=enforce/)
  await new Promise((r) => setTimeout(r, 1500))
  const again = await core.listNamespacedEvent({namespace: 'apps', fieldSelector: `involvedObject.uid=${pod!.metadata!.uid}`})
  t.equal(again.items.filter((e) => e.reason === NO_ENFORCING_NODE).length, 1, 'one event per Pod, not one per sweep')

  const text = await runCli(['target', 'debug', 'deployment/strict', '-n', 'apps'], {env})
  const r = await debug('deployment/strict', '-n', 'apps')
  t.equal(r.code, 1, `exit 1: something is wrong (${r.stderr}${r.stdout.slice(0, 2000)})`)
  const s = r.report!.status!
  t.equal(s.phase, 'Complete')
  t.equal(s.reporter, op.identity, 'written by the leader')
  t.same(s.template, {labelled: true, annotations: protectedTemplate('strict', {[Annotations.ebpf]: 'true'}).spec.template.metadata.annotations})
  t.equal(s.pods.length, 1)
  t.match(s.pods[0], {name: pod!.metadata!.name, injection: {labelled: true, wrapped: true}, kernel: {required: true, enforcingNodes: 0}, connectivity: {address: `http://127.0.0.1:${closedPort}`, reachable: false, detail: /ECONNREFUSED/}})
  t.match(s.findings[0], /^Pod strict-.* requires kernel enforcement/, 'the cause first')
  t.notOk(s.findings.some((f) => /event NoEnforcingNode/.test(f)), 'the event is not said twice')

  t.match(text.stdout, /kernel\s+enforcement required; node -; no enforcing node/, text.stderr)
  t.match(text.stdout, /openbao\s+http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/)
})

t.test('fail-open detection: no required enforcement, no event', async (t) => {
  await apps.createNamespacedDeployment({namespace: 'apps', body: protectedTemplate('lenient', {[Annotations.ebpf]: 'true', [Annotations.ebpfFail]: 'open'})})
  await eventually('the wrapped Pod', async () => ((await core.listNamespacedPod({namespace: 'apps', labelSelector: 'app=lenient'})).items.length ? true : undefined))
  const r = await debug('deploy/lenient', '-n', 'apps')
  const p = r.report!.status!.pods[0]!
  t.equal(p.kernel.required, false, 'fail-open does not require an enforcing node')
  t.notOk(r.report!.status!.findings.some((f) => /requires kernel enforcement/.test(f)))
  await new Promise((res) => setTimeout(res, 1500))
  const events = await core.listNamespacedEvent({namespace: 'apps', fieldSelector: `involvedObject.name=${p.name}`})
  t.notOk(events.items.some((e) => e.reason === NO_ENFORCING_NODE))
})

t.test('a Pod not marked for injection, a missing Pod, a bad target, a report past its TTL', async (t) => {
  await core.createNamespacedPod({namespace: 'apps', body: {metadata: {name: 'plain'}, spec: {containers: [{name: 'c', image: 'registry.local/app:1'}]}}})
  const plain = await debug('plain', '-n', 'apps')
  t.equal(plain.code, 1)
  t.same(plain.report!.status!.findings, ['Pod plain is not marked for injection (label cloudtaser.io/inject=true)'])

  const missing = await debug('pod/nope', '-n', 'apps')
  t.equal(missing.code, 1)
  t.match(missing.report!.status, {phase: 'Failed', message: 'Pod apps/nope not found'})

  const bad = await debug('cronjob/x', '-n', 'apps')
  t.equal(bad.code, 2, 'a kind it cannot read: usage error')
  t.match(bad.report, {error: {code: 'USAGE', message: 'cannot read "cronjob/x" as POD or KIND/NAME'}})

  const created = (await custom.createNamespacedCustomObject({group: 'cloudtaser.io', version: 'v1alpha1', namespace: 'apps', plural: 'debugreports', body: {apiVersion: 'cloudtaser.io/v1alpha1', kind: 'DebugReport', metadata: {name: 'short-lived'}, spec: {pod: 'plain', ttlSecondsAfterFinished: 0}}})) as DebugReport
  t.ok(created.metadata.uid)
  await eventually('the report deleted after its TTL', async () =>
    custom.getNamespacedCustomObject({group: 'cloudtaser.io', version: 'v1alpha1', namespace: 'apps', plural: 'debugreports', name: 'short-lived'}).then(() => undefined, () => true),
  )
  t.pass('deleted')

  const invalid = await custom.createNamespacedCustomObject({group: 'cloudtaser.io', version: 'v1alpha1', namespace: 'apps', plural: 'debugreports', body: {apiVersion: 'cloudtaser.io/v1alpha1', kind: 'DebugReport', metadata: {name: 'both'}, spec: {pod: 'a', workload: {kind: 'Deployment', name: 'b'}}}}).then(() => 'created', (err: Error) => err.message)
  t.match(invalid, /name either a pod or a workload/, 'the CRD refuses a report naming both')
  t.notOk(logs.some((l) => l.level === 'error'), `no error logged: ${JSON.stringify(logs.filter((l) => l.level === 'error'))}`)
})
