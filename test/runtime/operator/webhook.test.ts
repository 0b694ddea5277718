// The webhook against the lab's real kube-apiserver and controller-manager: registered by
// startOperator (caBundle patched on every start), it mutates the pods a Deployment's ReplicaSet
// creates; unlabelled pods never reach it; a pod it cannot wrap is refused with a clear message.
import t from 'tap'
import {request} from 'node:https'
import {AdmissionregistrationV1Api, AppsV1Api, CoreV1Api, type V1Deployment, type V1Pod} from '@kubernetes/client-node'
import {Annotations, INJECT_LABEL} from '../../../lib/annotations.js'
import {startControlPlane} from '../../../lib/lab/index.js'
import {startOperator, type LogFields} from '../../../runtime/operator/server.js'
import {WRAPPER_PATH} from '../../../runtime/operator/mutation.js'
import {WEBHOOK_CONFIG_NAME} from '../../../runtime/operator/webhook-config.js'
import {eventually} from '../../lib/lab/helpers.js'

const cp = await startControlPlane()
t.teardown(() => cp.stop())
const core = cp.kubeConfig.makeApiClient(CoreV1Api)
const apps = cp.kubeConfig.makeApiClient(AppsV1Api)
const admission = cp.kubeConfig.makeApiClient(AdmissionregistrationV1Api)
const logs: {event: string; fields?: LogFields}[] = []

const start = () =>
  startOperator({
    mutation: {wrapperImage: 'registry.local/cloudtaser-wrapper:test', wrapperSource: '/cloudtaser-wrapper'},
    host: '127.0.0.1',
    port: 0,
    register: true,
    kubeConfig: cp.kubeConfig,
    failurePolicy: 'Fail',
    timeoutSeconds: 5,
    excludeNamespaces: ['kube-system', 'cloudtaser-system'],
    log: (_level, event, fields) => void logs.push({event, fields}),
  })

let op = await start()
t.teardown(() => op.close())
await core.createNamespace({body: {metadata: {name: 'apps'}}})

const deployment = (name: string, labels: Record<string, string>, annotations: Record<string, string>, command?: string[]): V1Deployment => ({
  metadata: {name, namespace: 'apps'},
  spec: {
    replicas: 2,
    selector: {matchLabels: {app: name}},
    template: {
      metadata: {labels: {app: name, ...labels}, annotations},
      spec: {containers: [{name: 'app', image: 'registry.local/app:1', command, args: command ? ['--port', '8080'] : undefined}]},
    },
  },
})
const protectedAnnotations = {
  [Annotations.inject]: 'true',
  [Annotations.vaultAddress]: 'https://bao.eu.example:8200',
  [Annotations.vaultRole]: 'billing',
  [Annotations.secretPaths]: 'secret/data/billing/db',
  [Annotations.envMap]: 'password=PGPASSWORD',
}
const podsOf = async (app: string, n: number) =>
  eventually(`${n} pods of ${app}`, async () => {
    const l = await core.listNamespacedPod({namespace: 'apps', labelSelector: `app=${app}`})
    return l.items.length >= n ? l.items : undefined
  })

const get = (path: string) =>
  new Promise<number>((resolve, reject) => {
    request({host: '127.0.0.1', port: op.port, path, ca: op.caPem}, (res) => {
      res.resume()
      resolve(res.statusCode!)
    })
      .on('error', reject)
      .end()
  })

t.test('registration: objectSelector on the inject label, caBundle of this start, health endpoints', async (t) => {
  t.equal(op.registered, 'created')
  const cfg = await admission.readMutatingWebhookConfiguration({name: WEBHOOK_CONFIG_NAME})
  const wh = cfg.webhooks![0]!
  t.same(wh.objectSelector, {matchLabels: {[INJECT_LABEL]: 'true'}})
  t.equal(Buffer.from(wh.clientConfig.caBundle!, 'base64').toString(), op.caPem)
  t.equal(wh.failurePolicy, 'Fail')
  t.equal(await get('/healthz'), 200)
  t.equal(await get('/readyz'), 200)
})

t.test('a protected Deployment\'s pods come out wrapped, as created by the controller', async (t) => {
  // The apiserver loads webhook configurations through an informer: on a busy CI machine a pod
  // created right after registration can slip past. Dry runs show when the webhook is live.
  await eventually('the webhook to be active', async () => {
    const probe = await core.createNamespacedPod({
      namespace: 'apps',
      dryRun: 'All',
      body: {metadata: {name: 'probe', labels: {[INJECT_LABEL]: 'true'}, annotations: protectedAnnotations}, spec: {containers: [{name: 'a', image: 'a', command: ['a']}]}},
    })
    return probe.spec?.containers[0]?.command?.[0] === WRAPPER_PATH ? true : undefined
  })
  await apps.createNamespacedDeployment({namespace: 'apps', body: deployment('billing', {[INJECT_LABEL]: 'true'}, protectedAnnotations, ['/bin/billing'])})
  const pods = await podsOf('billing', 2)
  for (const p of pods) {
    const c = p.spec!.containers[0]!
    t.same(c.command, [WRAPPER_PATH])
    t.notOk(c.args, 'args travel in CLOUDTASER_ORIGINAL_CMD')
    const env = Object.fromEntries(c.env!.map((e) => [e.name, e.value]))
    t.equal(env.CLOUDTASER_ORIGINAL_CMD, '["/bin/billing","--port","8080"]')
    t.equal(env.CLOUDTASER_VAULT_ROLE, 'billing')
    t.equal(env.CLOUDTASER_ENV_MAP, 'password=PGPASSWORD')
    t.equal(p.spec!.initContainers![0]!.name, 'cloudtaser-init')
    t.same(p.spec!.volumes!.find((v) => v.name === 'cloudtaser-bin')!.emptyDir, {medium: 'Memory', sizeLimit: '64Mi'})
    t.ok(c.volumeMounts!.some((m) => m.mountPath === '/cloudtaser' && m.readOnly))
  }
})

t.test('automountServiceAccountToken false: the apiserver accepts the projected token the webhook adds', async (t) => {
  const created = await core.createNamespacedPod({
    namespace: 'apps',
    body: {
      metadata: {name: 'no-automount', labels: {[INJECT_LABEL]: 'true'}, annotations: protectedAnnotations},
      spec: {automountServiceAccountToken: false, containers: [{name: 'app', image: 'registry.local/app:1', command: ['/bin/app']}]},
    },
  })
  const vol = created.spec!.volumes!.find((v) => v.name === 'cloudtaser-sa-token')
  t.equal(vol?.projected?.sources?.[0]?.serviceAccountToken?.path, 'token')
  const c = created.spec!.containers[0]!
  t.equal(c.env!.find((e) => e.name === 'CLOUDTASER_SA_TOKEN_FILE')?.value, '/var/run/secrets/cloudtaser.io/serviceaccount/token')
  t.notOk(created.spec!.volumes!.some((v) => v.name.startsWith('kube-api-access')), 'no automounted token')
})

t.test("OpenBao's CA from a ConfigMap: the apiserver accepts the mounted CA the webhook adds", async (t) => {
  const created = await core.createNamespacedPod({
    namespace: 'apps',
    body: {
      metadata: {name: 'private-ca', labels: {[INJECT_LABEL]: 'true'}, annotations: {...protectedAnnotations, [Annotations.vaultCaConfigMap]: 'openbao-ca/root.pem'}},
      spec: {containers: [{name: 'app', image: 'registry.local/app:1', command: ['/bin/app']}]},
    },
  })
  t.match(created.spec!.volumes!.find((v) => v.name === 'cloudtaser-vault-ca')?.configMap, {name: 'openbao-ca', items: [{key: 'root.pem', path: 'ca.crt'}]})
  t.equal(created.spec!.containers[0]!.env!.find((e) => e.name === 'CLOUDTASER_VAULT_CACERT')?.value, '/var/run/secrets/cloudtaser.io/vault-ca/ca.crt')
})

t.test('an unlabelled pod never reaches the webhook', async (t) => {
  const before = op.stats.reviews
  await apps.createNamespacedDeployment({namespace: 'apps', body: deployment('plain', {}, {}, ['/bin/plain'])})
  const pods = await podsOf('plain', 2)
  t.same(pods[0]!.spec!.containers[0]!.command, ['/bin/plain'])
  t.equal(op.stats.reviews, before, 'objectSelector filtered it in the apiserver')
})

t.test('a pod the webhook cannot wrap is refused fast with a message naming the container', async (t) => {
  const pod: V1Pod = {
    metadata: {name: 'no-command', namespace: 'apps', labels: {[INJECT_LABEL]: 'true'}, annotations: protectedAnnotations},
    spec: {containers: [{name: 'web', image: 'registry.local/web:1'}]},
  }
  const t0 = Date.now()
  const err = await core.createNamespacedPod({namespace: 'apps', body: pod}).then(
    () => undefined,
    (e: {body?: string}) => e,
  )
  t.ok(err, 'refused')
  t.match(String(err?.body), /container \\?"web\\?" has no command/)
  t.ok(Date.now() - t0 < 2000, `answered in ${Date.now() - t0} ms`)
})

t.test('a restart makes a new CA and patches caBundle; admission keeps working', async (t) => {
  const oldCa = op.caPem
  await op.close()
  op = await start()
  t.equal(op.registered, 'updated')
  t.not(op.caPem, oldCa)
  const cfg = await admission.readMutatingWebhookConfiguration({name: WEBHOOK_CONFIG_NAME})
  t.equal(Buffer.from(cfg.webhooks![0]!.clientConfig.caBundle!, 'base64').toString(), op.caPem)
  await apps.createNamespacedDeployment({namespace: 'apps', body: deployment('after', {[INJECT_LABEL]: 'true'}, protectedAnnotations, ['/bin/after'])})
  const pods = await podsOf('after', 2)
  t.same(pods[0]!.spec!.containers[0]!.command, [WRAPPER_PATH])
})

t.test('no secret value and no token in any operator log line', async (t) => {
  t.ok(logs.some((l) => l.event === 'pod_mutated'))
  t.notMatch(JSON.stringify(logs), /PGPASSWORD=|token/i)
})
