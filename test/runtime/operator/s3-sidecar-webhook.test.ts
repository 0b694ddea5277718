// cloudtaser.io/s3-proxy through the real kube-apiserver: the webhook's sidecar (restartPolicy
// Always with probes, which only a native sidecar may have) passes the apiserver's own Pod
// validation and is stored as built; a bad annotation refuses the create with our message.
import t from 'tap'
import {CoreV1Api, type V1Pod} from '@kubernetes/client-node'
import {Annotations, INJECT_LABEL} from '../../../lib/annotations.js'
import {startControlPlane} from '../../../lib/lab/index.js'
import {startOperator} from '../../../runtime/operator/server.js'
import {WRAPPER_PATH} from '../../../runtime/operator/mutation.js'
import {S3_PROXY_CONTAINER} from '../../../runtime/operator/s3-sidecar.js'
import {eventually} from '../../lib/lab/helpers.js'

const cp = await startControlPlane()
t.teardown(() => cp.stop())
const core = cp.kubeConfig.makeApiClient(CoreV1Api)
const op = await startOperator({
  mutation: {wrapperImage: 'registry.local/wrapper:test', wrapperSource: '/cloudtaser-wrapper', s3ProxyImage: 'registry.local/cloudtaser:test'},
  host: '127.0.0.1',
  port: 0,
  register: true,
  kubeConfig: cp.kubeConfig,
  failurePolicy: 'Fail',
  timeoutSeconds: 5,
  excludeNamespaces: ['kube-system', 'cloudtaser-system'],
  log: () => undefined,
})
t.teardown(() => op.close())
await core.createNamespace({body: {metadata: {name: 'apps'}}})

const annotations = {
  [Annotations.inject]: 'true',
  [Annotations.vaultAddress]: 'https://bao.eu.example:8200',
  [Annotations.vaultRole]: 'billing',
  [Annotations.secretPaths]: 'secret/data/billing/s3',
  [Annotations.envMap]: 'access_key_id=AWS_ACCESS_KEY_ID,secret_access_key=AWS_SECRET_ACCESS_KEY',
  [Annotations.s3Proxy]: 'true',
  [Annotations.s3ProxyUpstream]: 'https://s3.eu-central-1.amazonaws.com',
  [Annotations.s3ProxyRegion]: 'eu-central-1',
  [Annotations.s3ProxyTransitKey]: 'billing-data',
  [Annotations.s3ProxyCredentials]: 'secret/data/billing/s3',
}
const pod = (name: string, a: Record<string, string>): V1Pod => ({
  metadata: {name, namespace: 'apps', labels: {[INJECT_LABEL]: 'true'}, annotations: a},
  spec: {containers: [{name: 'app', image: 'registry.local/app:1', command: ['/bin/app']}]},
})

t.test('the sidecar passes Pod validation and is stored as the webhook built it', async (t) => {
  // The apiserver loads webhook configurations through an informer (and the ServiceAccount
  // controller makes `default`): retry dry runs until the webhook is live.
  await eventually('the webhook to be active', async () => {
    const probe = await core.createNamespacedPod({namespace: 'apps', dryRun: 'All', body: pod('probe', annotations)}).catch(() => undefined)
    return probe?.spec?.containers[0]?.command?.[0] === WRAPPER_PATH ? true : undefined
  })
  await core.createNamespacedPod({namespace: 'apps', body: pod('billing', annotations)})
  const stored = await core.readNamespacedPod({namespace: 'apps', name: 'billing'})
  t.same(
    stored.spec!.initContainers!.map((c) => c.name),
    ['cloudtaser-init', S3_PROXY_CONTAINER],
  )
  const c = stored.spec!.initContainers![1]!
  t.equal(c.restartPolicy, 'Always')
  t.equal(c.image, 'registry.local/cloudtaser:test')
  t.same(c.command, [WRAPPER_PATH])
  t.equal(c.startupProbe?.httpGet?.port, 8191)
  t.equal(c.readinessProbe?.httpGet?.path, '/readyz')
  t.equal(c.resources?.requests?.memory, '128Mi')
  const env = Object.fromEntries(c.env!.map((e) => [e.name, e.value]))
  t.equal(env.CLOUDTASER_SECRET_PATHS, 'secret/data/billing/s3')
  t.match(env.CLOUDTASER_ORIGINAL_CMD, /"--transit-key=billing-data"/)
  t.ok(
    c.env!.every((e) => e.valueFrom === undefined),
    'settings only',
  )
  t.same(stored.spec!.containers[0]!.command, [WRAPPER_PATH])
})

t.test('a bad setting refuses the create, with the annotation named', async (t) => {
  const err = await core.createNamespacedPod({namespace: 'apps', body: pod('bad', {...annotations, [Annotations.s3ProxyRegion]: 'EU Central'})}).then(
    () => undefined,
    (e: {body?: string}) => e,
  )
  t.ok(err, 'refused')
  t.match(String(err?.body), /cloudtaser\.io\/s3-proxy-region \\?"EU Central\\?" is not a region name/)
  const list = await core.listNamespacedPod({namespace: 'apps'})
  t.notOk(
    list.items.some((p) => p.metadata?.name === 'bad'),
    'nothing stored',
  )
})
