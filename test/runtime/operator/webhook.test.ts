// The operator against a real apiserver: its HTTPS server in-process on loopback, the webhook
// configuration it writes, and Pods created by the ReplicaSet controller from a protected Deployment.
import t from 'tap'
import {AdmissionregistrationV1Api, AppsV1Api, CoreV1Api, type V1Deployment, type V1Pod} from '@kubernetes/client-node'
import {Annotations, INJECT_LABEL} from '../../../lib/annotations.js'
import {startControlPlane} from '../../../lib/lab/index.js'
import {eventually} from '../../lib/lab/helpers.js'
import {startOperator} from '../../../runtime/operator/server.js'
import {WEBHOOK_CONFIG_NAME} from '../../../runtime/operator/webhook-config.js'

const cp = await startControlPlane()
t.teardown(() => cp.stop())
const core = cp.kubeConfig.makeApiClient(CoreV1Api)
const apps = cp.kubeConfig.makeApiClient(AppsV1Api)
const admission = cp.kubeConfig.makeApiClient(AdmissionregistrationV1Api)

const logs: string[] = []
const options = {
  mutation: {wrapperImage: 'registry.invalid/cloudtaser-wrapper:test', wrapperSource: '/cloudtaser-wrapper'},
  host: '127.0.0.1',
  port: 0,
  register: true,
  kubeConfig: cp.kubeConfig,
  failurePolicy: 'Fail' as const,
  timeoutSeconds: 5,
  excludeNamespaces: ['kube-system', 'cloudtaser-system'],
  log: (_l: string, event: string, f?: object) => void logs.push(JSON.stringify({event, ...f})),
}
let op = await startOperator(options)
t.teardown(() => op.close())

await core.createNamespace({body: {metadata: {name: 'apps'}}})
await eventually('the default ServiceAccount', () => core.readNamespacedServiceAccount({name: 'default', namespace: 'apps'}))

const annotations = {
  [Annotations.inject]: 'true',
  [Annotations.vaultAddress]: 'https://bao.eu.example:8200',
  [Annotations.vaultRole]: 'billing',
  [Annotations.secretPaths]: 'secret/data/billing/db',
  [Annotations.envMap]: 'password=PGPASSWORD',
}
const deployment = (name: string, labelled: boolean, command: string[] | undefined = ['/bin/app', '--serve']): V1Deployment => ({
  metadata: {name},
  spec: {
    replicas: 2,
    selector: {matchLabels: {app: name}},
    template: {
      metadata: {labels: {app: name, ...(labelled ? {[INJECT_LABEL]: 'true'} : {})}, annotations: labelled ? annotations : {}},
      spec: {containers: [{name: 'app', image: 'registry.invalid/app:1', ...(command ? {command} : {}), args: ['--port', '8080']}]},
    },
  },
})
const podsOf = async (app: string): Promise<V1Pod[]> => (await core.listNamespacedPod({namespace: 'apps', labelSelector: `app=${app}`})).items

t.test('the webhook configuration is created with the documented shape', async (t) => {
  t.equal(op.registered, 'created')
  const cfg = await admission.readMutatingWebhookConfiguration({name: WEBHOOK_CONFIG_NAME})
  const w = cfg.webhooks![0]!
  t.match(w, {
    name: 'inject.cloudtaser.io',
    clientConfig: {url: `https://127.0.0.1:${op.port}/mutate-v1-pod`},
    objectSelector: {matchLabels: {'cloudtaser.io/inject': 'true'}},
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
    reinvocationPolicy: 'IfNeeded',
    failurePolicy: 'Fail',
    timeoutSeconds: 5,
  })
  t.same(w.rules![0]!.operations, ['CREATE'])
  t.equal(Buffer.from(w.clientConfig.caBundle!, 'base64').toString(), op.caPem)
})

t.test('a protected Deployment: the ReplicaSet controller creates wrapped Pods', async (t) => {
  // The apiserver's webhook informer may lag the create: wait until a dry run is mutated.
  await eventually('the webhook to be active', async () => {
    const probe = await core.createNamespacedPod({namespace: 'apps', dryRun: 'All', body: {metadata: {name: 'probe', labels: {[INJECT_LABEL]: 'true'}, annotations}, spec: {containers: [{name: 'a', image: 'a', command: ['a']}]}}})
    return probe.spec?.containers[0]?.command?.[0] === '/cloudtaser/wrapper' ? true : undefined
  })
  await apps.createNamespacedDeployment({namespace: 'apps', body: deployment('billing', true)})
  await apps.createNamespacedDeployment({namespace: 'apps', body: deployment('plain', false)})
  const pods = await eventually('2 billing pods', async () => ((await podsOf('billing')).length === 2 ? podsOf('billing') : undefined))
  for (const p of pods) {
    t.ok(p.metadata?.ownerReferences?.[0]?.kind === 'ReplicaSet', 'created by the ReplicaSet controller')
    t.same(p.spec!.volumes!.find((v) => v.name === 'cloudtaser-bin')?.emptyDir, {medium: 'Memory', sizeLimit: '64Mi'})
    t.match(p.spec!.initContainers![0], {name: 'cloudtaser-init', image: 'registry.invalid/cloudtaser-wrapper:test', command: ['cp', '/cloudtaser-wrapper', '/cloudtaser/wrapper']})
    const app = p.spec!.containers[0]!
    t.same(app.command, ['/cloudtaser/wrapper'])
    t.notOk(app.args, 'args folded into the original command')
    const env = Object.fromEntries(app.env!.map((e) => [e.name, e.value]))
    t.same(env, {
      CLOUDTASER_ORIGINAL_CMD: '["/bin/app","--serve","--port","8080"]',
      CLOUDTASER_VAULT_ADDR: 'https://bao.eu.example:8200',
      CLOUDTASER_VAULT_ROLE: 'billing',
      CLOUDTASER_SECRET_PATHS: 'secret/data/billing/db',
      CLOUDTASER_ENV_MAP: 'password=PGPASSWORD',
    })
    t.match(app.volumeMounts!.find((m) => m.name === 'cloudtaser-bin'), {mountPath: '/cloudtaser', readOnly: true})
    t.ok(app.volumeMounts!.some((m) => m.mountPath === '/var/run/secrets/kubernetes.io/serviceaccount'), 'the SA token the wrapper logs in with is still mounted')
  }
  const plain = await eventually('2 plain pods', async () => ((await podsOf('plain')).length === 2 ? podsOf('plain') : undefined))
  for (const p of plain) {
    t.same(p.spec!.containers[0]!.command, ['/bin/app', '--serve'], 'unlabelled: untouched')
    t.notOk(p.spec!.initContainers, 'no init container')
  }
  t.ok(op.stats.mutated >= 2)
})

t.test('a container without command: creation denied with a message naming it', async (t) => {
  const err = await core
    .createNamespacedPod({namespace: 'apps', body: {metadata: {name: 'nocmd', labels: {[INJECT_LABEL]: 'true'}, annotations}, spec: {containers: [{name: 'web', image: 'nginx:1'}]}}})
    .then(() => undefined, (e: {code?: number; body?: string}) => e)
  t.ok(err, 'refused')
  t.match(String(err?.body), /container \\?"web\\?" has no command/)
})

t.test('a restart makes a new CA and patches caBundle; pods are still mutated', async (t) => {
  const oldCa = op.caPem
  await op.close()
  op = await startOperator(options)
  t.equal(op.registered, 'updated')
  t.not(op.caPem, oldCa)
  const cfg = await admission.readMutatingWebhookConfiguration({name: WEBHOOK_CONFIG_NAME})
  t.equal(Buffer.from(cfg.webhooks![0]!.clientConfig.caBundle!, 'base64').toString(), op.caPem)
  const mutated = await eventually('the new server to mutate', async () => {
    const probe = await core.createNamespacedPod({namespace: 'apps', dryRun: 'All', body: {metadata: {name: 'probe2', labels: {[INJECT_LABEL]: 'true'}, annotations}, spec: {containers: [{name: 'a', image: 'a', command: ['a']}]}}})
    return probe.spec?.containers[0]?.command?.[0] === '/cloudtaser/wrapper' ? probe : undefined
  })
  t.ok(mutated)
})

t.test('healthz and readyz answer without any remote dependency', async (t) => {
  const {request} = await import('node:https')
  for (const path of ['/healthz', '/readyz']) {
    const status = await new Promise<number>((resolve, reject) => {
      request({host: '127.0.0.1', port: op.port, path, ca: op.caPem}, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
        .on('error', reject)
        .end()
    })
    t.equal(status, 200, path)
  }
  t.notOk(logs.some((l) => l.includes('PGPASSWORD=')), 'logs carry names of pods, not env')
})
