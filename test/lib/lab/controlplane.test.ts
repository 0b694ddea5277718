// The lab's control plane is a real one: controllers reconcile, RBAC decides, tokens verify.
import t from 'tap'
import {AppsV1Api, AuthenticationV1Api, CoreV1Api, KubeConfig, RbacAuthorizationV1Api} from '@kubernetes/client-node'
import {startControlPlane} from '../../../lib/lab/index.js'
import {eventually} from './helpers.js'

const cp = await startControlPlane()
t.teardown(() => cp.stop())
t.comment(`control plane ready in ${cp.timings.total} ms (${JSON.stringify(cp.timings)})`)

const core = cp.kubeConfig.makeApiClient(CoreV1Api)
const apps = cp.kubeConfig.makeApiClient(AppsV1Api)

t.test('(a) a Deployment gets a ReplicaSet and Pods, which stay Pending without a kubelet', async (t) => {
  const namespace = 'lab-a'
  await core.createNamespace({body: {metadata: {name: namespace}}})
  await eventually('the default ServiceAccount in lab-a', () => core.readNamespacedServiceAccount({name: 'default', namespace}))
  const labels = {app: 'web'}
  await apps.createNamespacedDeployment({
    namespace,
    body: {
      metadata: {name: 'web'},
      spec: {
        replicas: 2,
        selector: {matchLabels: labels},
        template: {metadata: {labels}, spec: {containers: [{name: 'web', image: 'registry.invalid/web:1'}]}},
      },
    },
  })
  const rs = await eventually('a ReplicaSet owned by the Deployment', async () => {
    const list = await apps.listNamespacedReplicaSet({namespace})
    return list.items.find((r) => r.metadata?.ownerReferences?.some((o) => o.kind === 'Deployment' && o.name === 'web'))
  })
  const pods = await eventually('2 Pods owned by the ReplicaSet', async () => {
    const list = await core.listNamespacedPod({namespace})
    const owned = list.items.filter((p) => p.metadata?.ownerReferences?.some((o) => o.uid === rs.metadata?.uid))
    return owned.length === 2 ? owned : undefined
  })
  for (const pod of pods) {
    t.equal(pod.status?.phase, 'Pending', `${pod.metadata?.name} is Pending`)
    t.notOk(pod.spec?.nodeName, 'no node: there is no scheduler or kubelet')
    t.equal(pod.spec?.serviceAccountName, 'default', 'the ServiceAccount admission plugin ran')
  }
  const dep = await eventually('Deployment status observed', async () => {
    const d = await apps.readNamespacedDeployment({name: 'web', namespace})
    return d.status?.observedGeneration === d.metadata?.generation && d.status?.replicas === 2 ? d : undefined
  })
  t.equal(dep.status?.readyReplicas ?? 0, 0, 'none ready')
})

t.test('root CA publisher, namespace deletion and garbage collection run', async (t) => {
  const namespace = 'lab-gc'
  await core.createNamespace({body: {metadata: {name: namespace}}})
  const cm = await eventually('kube-root-ca.crt', () => core.readNamespacedConfigMap({name: 'kube-root-ca.crt', namespace}))
  t.equal(cm.data?.['ca.crt']?.trim(), cp.caPem.trim(), 'the lab CA is published into every namespace')

  const owner = await core.createNamespacedConfigMap({namespace, body: {metadata: {name: 'owner'}}})
  await core.createNamespacedConfigMap({
    namespace,
    body: {metadata: {name: 'dependent', ownerReferences: [{apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata!.uid!}]}},
  })
  await core.deleteNamespacedConfigMap({name: 'owner', namespace})
  const collected = await eventually('the dependent to be collected', async () => {
    const list = await core.listNamespacedConfigMap({namespace})
    return list.items.some((c) => c.metadata?.name === 'dependent') ? undefined : true
  })
  t.ok(collected, 'garbage collector removed the dependent')

  await core.deleteNamespace({name: namespace})
  const finalised = await eventually('the namespace to be finalised', async () => {
    const list = await core.listNamespace()
    return list.items.some((n) => n.metadata?.name === namespace) ? undefined : true
  })
  t.ok(finalised, 'namespace controller emptied and removed the namespace')
})

t.test('RBAC is on and TokenRequest/TokenReview work', async (t) => {
  const namespace = 'lab-rbac'
  await core.createNamespace({body: {metadata: {name: namespace}}})
  await core.createNamespacedServiceAccount({namespace, body: {metadata: {name: 'viewer'}}})
  const token = await core.createNamespacedServiceAccountToken({
    name: 'viewer',
    namespace,
    body: {spec: {expirationSeconds: 600, audiences: []}},
  })
  const jwt = token.status!.token
  t.ok(jwt.split('.').length === 3, 'TokenRequest returned a JWT')

  const review = await cp.kubeConfig.makeApiClient(AuthenticationV1Api).createTokenReview({body: {spec: {token: jwt}}})
  t.equal(review.status?.authenticated, true, 'TokenReview accepts it')
  t.equal(review.status?.user?.username, `system:serviceaccount:${namespace}:viewer`)

  const asViewer = new KubeConfig()
  asViewer.loadFromOptions({
    clusters: [{name: 'lab', server: cp.server, caData: Buffer.from(cp.caPem).toString('base64')}],
    users: [{name: 'viewer', token: jwt}],
    contexts: [{name: 'lab', cluster: 'lab', user: 'viewer'}],
    currentContext: 'lab',
  })
  const viewerCore = asViewer.makeApiClient(CoreV1Api)
  await t.rejects(viewerCore.listNamespacedSecret({namespace}), {code: 403}, 'no role: forbidden')

  const rbac = cp.kubeConfig.makeApiClient(RbacAuthorizationV1Api)
  await rbac.createNamespacedRole({namespace, body: {metadata: {name: 'secrets-list'}, rules: [{apiGroups: [''], resources: ['secrets'], verbs: ['list']}]}})
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: {
      metadata: {name: 'viewer-secrets'},
      roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'secrets-list'},
      subjects: [{kind: 'ServiceAccount', name: 'viewer', namespace}],
    },
  })
  const list = await eventually('the RoleBinding to take effect', () => viewerCore.listNamespacedSecret({namespace}))
  t.same(list.items, [], 'with a Role: allowed')
})
