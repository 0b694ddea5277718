// charts/cloudtaser against the lab's real kube-apiserver (no node: nothing runs, objects are
// admitted and stored): every rendering passes `kubectl apply --dry-run=server`, and the chart's
// webhook configuration behaves as the README argues while no operator answers: unlabelled Pods
// are created untouched, protected Pods are refused under Fail (and created, wrapped, once an
// operator answers) or created unwrapped under Ignore. Then a real helm install / upgrade /
// uninstall around the operator running on the chart's ServiceAccount and RBAC.
import t from 'tap'
import {execFile} from 'node:child_process'
import {mkdirSync, mkdtempSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {AdmissionregistrationV1Api, AppsV1Api, CoreV1Api, type V1MutatingWebhookConfiguration, type V1Pod} from '@kubernetes/client-node'
import {Annotations, INJECT_LABEL} from '../../lib/annotations.js'
import {ensureBinary, startControlPlane} from '../../lib/lab/index.js'
import {INIT_CONTAINER, WRAPPER_PATH} from '../../runtime/operator/mutation.js'
import {startOperator, type Operator} from '../../runtime/operator/server.js'
import {WEBHOOK_CONFIG_NAME, WEBHOOK_PATH} from '../../runtime/operator/webhook-config.js'
import {eventually} from '../lib/lab/helpers.js'
import {kubeClient, resolveKubeconfig} from '../../lib/kube/kubeconfig.js'
import {BASE_VALUES, chartDir, flagPairs, helmIn, NAMESPACE, one, render, valuesFile} from './helpers.js'

const run = promisify(execFile)
const [bin, cp] = await Promise.all([ensureBinary(), startControlPlane()])
t.teardown(() => cp.stop())
const core = cp.kubeConfig.makeApiClient(CoreV1Api)
const apps = cp.kubeConfig.makeApiClient(AppsV1Api)
const admission = cp.kubeConfig.makeApiClient(AdmissionregistrationV1Api)
const work = mkdtempSync(join(tmpdir(), 'cloudtaser-chart-'))

const kubectl = async (args: string[]) => {
  try {
    const {stdout, stderr} = await run(bin, ['kubectl', '--kubeconfig', cp.kubeconfigPath, ...args], {maxBuffer: 16 << 20})
    return {code: 0, stdout, stderr}
  } catch (err) {
    const e = err as {code?: number; stdout?: string; stderr?: string}
    return {code: e.code ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? ''}
  }
}

await core.createNamespace({body: {metadata: {name: NAMESPACE}}})
await core.createNamespace({body: {metadata: {name: 'apps'}}})

t.test('kubectl apply --dry-run=server accepts every rendering, and stores nothing', async (t) => {
  const values = {
    defaults: {},
    other: {operator: {ha: false, secretBackend: 'kubernetes', vaultAddress: 'https://openbao.example.eu:8200', webhook: {failurePolicy: 'Ignore'}, priorityClassName: 'system-cluster-critical'}, ebpf: {enforceMode: false}},
    spread: {operator: {replicas: 3, topologySpreadConstraints: [{maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule'}]}},
  }
  for (const [name, v] of Object.entries(values)) {
    const r = await render(v)
    const file = join(work, `${name}.yaml`)
    writeFileSync(file, r.text)
    const out = await kubectl(['apply', '--dry-run=server', '-f', file])
    t.equal(out.code, 0, `${name}: kubectl apply --dry-run=server exits 0${out.stderr ? `: ${out.stderr}` : ""}`)
    const created = out.stdout.split('\n').filter((l) => l.endsWith(' created (server dry run)'))
    t.equal(created.length, r.objects.length, `${name}: all ${r.objects.length} objects admitted`)
  }
  const left = await kubectl(['get', 'deployments,daemonsets,secrets,mutatingwebhookconfigurations', '-A', '-o', 'name'])
  t.equal(left.stdout.trim(), '', 'a dry run stores nothing')
})

/** A port nobody listens on: what the apiserver meets while every operator replica is down. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as {port: number}
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

const port = await closedPort()
const url = `https://127.0.0.1:${port}${WEBHOOK_PATH}`

/**
 * The chart's webhook configuration, pointed at `url`. The lab has no Service network without a
 * node (a ClusterIP would route off this machine), so the one field that differs is how the
 * apiserver reaches the operator; selectors, rules and failurePolicy are the chart's own.
 */
async function installChartWebhook(values: object): Promise<V1MutatingWebhookConfiguration> {
  const mwc = structuredClone(one((await render(values)).objects, 'MutatingWebhookConfiguration', WEBHOOK_CONFIG_NAME)) as V1MutatingWebhookConfiguration
  mwc.webhooks![0]!.clientConfig = {url}
  await admission.deleteMutatingWebhookConfiguration({name: WEBHOOK_CONFIG_NAME}).catch(() => undefined)
  return admission.createMutatingWebhookConfiguration({body: mwc})
}

const protectedAnnotations = {
  [Annotations.inject]: 'true',
  [Annotations.vaultAddress]: 'https://openbao.example.eu:8200',
  [Annotations.vaultRole]: 'billing',
  [Annotations.secretPaths]: 'secret/data/billing/db',
  [Annotations.envMap]: 'password=PGPASSWORD',
}
const pod = (name: string, namespace: string, labelled: boolean): V1Pod => ({
  metadata: {name, namespace, labels: {app: name, ...(labelled ? {[INJECT_LABEL]: 'true'} : {})}, annotations: labelled ? protectedAnnotations : {}},
  spec: {containers: [{name: 'app', image: 'registry.local/app:1', command: ['/bin/app']}]},
})
const create = (p: V1Pod) =>
  core.createNamespacedPod({namespace: p.metadata!.namespace!, body: p}).then(
    (created) => ({created, error: undefined}),
    (e: {code?: number; body?: unknown}) => ({created: undefined, error: e}),
  )

let operator: Operator | undefined
t.teardown(() => operator?.close())

t.test('failurePolicy Fail, operator down: only protected Pods are refused, and created wrapped once it answers', async (t) => {
  const cfg = await installChartWebhook({})
  t.equal(cfg.webhooks![0]!.failurePolicy, 'Fail')

  const plain = await create(pod('plain', 'apps', false))
  t.ok(plain.created, 'an unlabelled Pod is created: the apiserver never calls the webhook for it')
  t.same(plain.created?.spec?.initContainers ?? [], [])

  const t0 = Date.now()
  const refused = await create(pod('protected', 'apps', true))
  const refusedMs = Date.now() - t0
  t.notOk(refused.created, 'a protected Pod is refused')
  t.match(String(refused.error?.body), /failed calling webhook \\?"inject\.cloudtaser\.io\\?"/)
  t.ok(refusedMs < 5000, `refused at once (${refusedMs} ms), not after the timeout: nobody listens`)

  const own = await create(pod('own', NAMESPACE, true))
  t.ok(own.created, `a labelled Pod in ${NAMESPACE} is created: the operator's namespace is never gated`)

  // A protected Deployment: its ReplicaSet records the refusal and keeps retrying.
  await apps.createNamespacedDeployment({
    namespace: 'apps',
    body: {
      metadata: {name: 'billing', namespace: 'apps'},
      spec: {
        replicas: 1,
        selector: {matchLabels: {app: 'billing'}},
        template: {metadata: {labels: {app: 'billing', [INJECT_LABEL]: 'true'}, annotations: protectedAnnotations}, spec: {containers: [{name: 'app', image: 'registry.local/app:1', command: ['/bin/app']}]}},
      },
    },
  })
  const failure = await eventually('the ReplicaSet to report FailedCreate', async () => {
    const rs = (await apps.listNamespacedReplicaSet({namespace: 'apps', labelSelector: 'app=billing'})).items[0]
    return rs?.status?.conditions?.find((c) => c.type === 'ReplicaFailure' && c.reason === 'FailedCreate')
  })
  t.match(failure.message, /inject\.cloudtaser\.io/)

  // The operator comes back on the address the webhook calls: the retry succeeds, wrapped.
  const t1 = Date.now()
  operator = await startOperator({
    mutation: {wrapperImage: 'cloudtaser.lab/wrapper:dev', wrapperSource: '/cloudtaser-wrapper'},
    host: '127.0.0.1',
    port,
    url,
    register: true,
    kubeConfig: cp.kubeConfig,
    failurePolicy: 'Fail',
    timeoutSeconds: 5,
    excludeNamespaces: ['kube-system', NAMESPACE],
    log: () => {},
  })
  const wrapped = await eventually(
    'the Deployment\'s Pod, wrapped',
    async () => (await core.listNamespacedPod({namespace: 'apps', labelSelector: 'app=billing'})).items[0],
    60_000,
  )
  t.equal(wrapped.spec?.initContainers?.[0]?.name, INIT_CONTAINER)
  t.same(wrapped.spec?.containers[0]?.command, [WRAPPER_PATH])
  t.comment(`Pod created ${Date.now() - t1} ms after the operator came back (the ReplicaSet's retry back-off)`)
  await operator.close()
  operator = undefined
})

t.test('failurePolicy Ignore, operator down: a protected Pod is created unwrapped', async (t) => {
  const cfg = await installChartWebhook({operator: {webhook: {failurePolicy: 'Ignore'}}})
  t.equal(cfg.webhooks![0]!.failurePolicy, 'Ignore')
  const r = await create(pod('unwrapped', 'apps', true))
  t.ok(r.created, 'created')
  t.same(r.created?.spec?.initContainers ?? [], [], 'no wrapper init container')
  t.same(r.created?.spec?.containers[0]?.command, ['/bin/app'], 'the original command: it runs without its secrets')
  t.equal(r.created?.metadata?.labels?.[INJECT_LABEL], 'true', 'still labelled: nothing tells it apart but its spec')
})

t.test('helm install, the operator on its ServiceAccount with the chart\'s RBAC, helm upgrade, helm uninstall', async (t) => {
  await admission.deleteMutatingWebhookConfiguration({name: WEBHOOK_CONFIG_NAME}).catch(() => undefined)
  const env = {KUBECONFIG: cp.kubeconfigPath}
  const installed = await helmIn(env, ['install', 'cloudtaser', chartDir, '-n', NAMESPACE, '-f', valuesFile(BASE_VALUES)])
  t.equal(installed.code, 0, `helm install: ${installed.stderr}`)

  // What the ServiceAccount may do, as the apiserver's authorizer answers.
  const sa = `system:serviceaccount:${NAMESPACE}:cloudtaser-operator`
  const can = async (...args: string[]) => (await kubectl(['auth', 'can-i', '--as', sa, ...args])).code === 0
  t.ok(await can('get', `mutatingwebhookconfigurations/${WEBHOOK_CONFIG_NAME}`), 'get its webhook configuration')
  t.ok(await can('update', `mutatingwebhookconfigurations/${WEBHOOK_CONFIG_NAME}`), 'update it (caBundle)')
  t.notOk(await can('update', 'mutatingwebhookconfigurations/someone-elses'), 'no other webhook configuration')
  t.notOk(await can('create', 'mutatingwebhookconfigurations'), 'cannot create webhook configurations')
  t.ok(await can('get', 'secrets', '-n', 'apps'), 'get a pull secret (readPullSecrets)')
  t.notOk(await can('list', 'secrets', '-n', 'apps'), 'never list Secrets')
  t.ok(await can('update', 'leases/cloudtaser-operator-leader', '-n', NAMESPACE), 'renew its Lease')
  t.notOk(await can('update', 'leases/other', '-n', NAMESPACE), 'no other Lease')
  t.notOk(await can('create', 'leases', '-n', 'kube-system'), 'no Lease outside its namespace')
  t.ok(await can('list', 'pods', '-A'), 'lists Pods (diagnostics, on by default)')
  t.notOk(await can('create', 'pods', '-n', 'apps'), 'never creates Pods')
  t.notOk(await can('patch', 'pods', '-n', 'apps'), 'never patches Pods')
  t.notOk(await can('list', 'configmaps', '-A'), 'no ConfigMaps')
  t.ok(await can('patch', 'debugreports.cloudtaser.io', '--subresource', 'status', '-n', 'apps'), 'writes DebugReport status')
  t.notOk(await can('create', 'debugreports.cloudtaser.io', '-n', 'apps'), 'creates no DebugReport')
  t.notOk(await can('get', 'pods', '-n', 'apps', '--as', `system:serviceaccount:${NAMESPACE}:cloudtaser-ebpf-agent`), 'the agent has no rights')

  // The operator's real calls through the account's token, found as in a Pod (no kubeconfig:
  // the ServiceAccount directory and KUBERNETES_SERVICE_*), in service mode as the Deployment runs it.
  const token = (await kubectl(['-n', NAMESPACE, 'create', 'token', 'cloudtaser-operator'])).stdout.trim()
  const saDir = join(work, 'serviceaccount')
  mkdirSync(saDir)
  writeFileSync(join(saDir, 'token'), token, {mode: 0o600})
  writeFileSync(join(saDir, 'ca.crt'), cp.caPem)
  const inPod = resolveKubeconfig({}, {HOME: join(work, 'no-home'), KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: new URL(cp.server).port, CLOUDTASER_SERVICE_ACCOUNT_DIR: saDir})
  t.equal(inPod.context, 'in-cluster')
  const args = flagPairs(one((await render()).objects, 'Deployment').spec.template.spec.containers[0].args)
  const arg = (name: string) => args.filter(([k]) => k === name).map(([, v]) => v)
  const op = await startOperator({
    mutation: {wrapperImage: arg('wrapper-image')[0]!, wrapperSource: arg('wrapper-source')[0]!},
    host: '127.0.0.1',
    port: 0,
    service: {name: arg('service-name')[0]!, namespace: arg('service-namespace')[0]!, port: Number(arg('service-port')[0])},
    register: true,
    kubeConfig: kubeClient(inPod),
    failurePolicy: arg('failure-policy')[0] as 'Fail',
    timeoutSeconds: Number(arg('timeout-seconds')[0]),
    excludeNamespaces: [...new Set([...arg('exclude-namespace'), arg('service-namespace')[0]!])],
    log: () => {},
  })
  t.teardown(() => op.close())
  t.equal(op.registered, 'updated', 'the operator found the chart\'s configuration and wrote its caBundle')
  const after = await admission.readMutatingWebhookConfiguration({name: WEBHOOK_CONFIG_NAME})
  t.equal(Buffer.from(after.webhooks![0]!.clientConfig.caBundle!, 'base64').toString(), op.caPem)
  t.match(after.metadata, {labels: {'app.kubernetes.io/managed-by': 'Helm'}, annotations: {'meta.helm.sh/release-name': 'cloudtaser'}}, 'Helm\'s ownership marks survive the operator\'s write')

  const upgraded = await helmIn(env, ['upgrade', 'cloudtaser', chartDir, '-n', NAMESPACE, '-f', valuesFile({...BASE_VALUES, operator: {...BASE_VALUES.operator, webhook: {timeoutSeconds: 7}}})])
  t.equal(upgraded.code, 0, `helm upgrade after the operator wrote caBundle: ${upgraded.stderr}`)
  const upgradedCfg = await admission.readMutatingWebhookConfiguration({name: WEBHOOK_CONFIG_NAME})
  t.equal(upgradedCfg.webhooks![0]!.timeoutSeconds, 7, 'the upgrade applied')
  t.equal(upgradedCfg.webhooks![0]!.clientConfig.caBundle, after.webhooks![0]!.clientConfig.caBundle, 'and left the operator\'s caBundle alone')

  const removed = await helmIn(env, ['uninstall', 'cloudtaser', '-n', NAMESPACE])
  t.equal(removed.code, 0, removed.stderr)
  t.notMatch(removed.stdout + removed.stderr, /not deleted/)
  const left = await kubectl(['get', 'mutatingwebhookconfigurations,clusterroles,clusterrolebindings,all,roles,rolebindings,configmaps,serviceaccounts,secrets,networkpolicies,poddisruptionbudgets', '-A', '-o', 'name', '-l', 'app.kubernetes.io/part-of=cloudtaser'])
  t.equal(left.stdout.trim(), '', 'uninstall leaves nothing, above all no Fail webhook pointing at a deleted Service')
  t.equal((await kubectl(['get', 'mutatingwebhookconfiguration', WEBHOOK_CONFIG_NAME])).code, 1)
})
