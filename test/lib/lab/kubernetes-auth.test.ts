// (b) OpenBao's kubernetes auth method against the lab's apiserver: a bound ServiceAccount's
// TokenRequest token logs in and gets its role's policies; any other ServiceAccount is refused.
import t from 'tap'
import {CoreV1Api, RbacAuthorizationV1Api} from '@kubernetes/client-node'
import {startLab} from '../../../lib/lab/index.js'
import {bao, eventually} from './helpers.js'

const lab = await startLab()
t.teardown(() => lab.stop())
t.comment(`lab ready in ${lab.readyMs} ms`)

const core = lab.kubeConfig.makeApiClient(CoreV1Api)
const rbac = lab.kubeConfig.makeApiClient(RbacAuthorizationV1Api)
const root = (method: string, path: string, body?: unknown) => bao(lab.baoAddr, lab.baoToken, method, path, body)

const tokenFor = async (name: string, namespace: string) => {
  const r = await core.createNamespacedServiceAccountToken({name, namespace, body: {spec: {expirationSeconds: 600, audiences: []}}})
  return r.status!.token
}

for (const namespace of ['openbao', 'apps']) {
  await core.createNamespace({body: {metadata: {name: namespace}}})
}
for (const [namespace, name] of [['openbao', 'token-reviewer'], ['apps', 'billing'], ['apps', 'intruder']] as const) {
  await core.createNamespacedServiceAccount({namespace, body: {metadata: {name}}})
}
// OpenBao verifies login JWTs with TokenReview, as a reviewer allowed to create them.
await rbac.createClusterRoleBinding({
  body: {
    metadata: {name: 'openbao-token-reviewer'},
    roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator'},
    subjects: [{kind: 'ServiceAccount', name: 'token-reviewer', namespace: 'openbao'}],
  },
})

t.test('configure: auth method, policy, role (bao auth enable / write auth/kubernetes/config / policy write)', async (t) => {
  t.equal((await root('POST', 'sys/auth/kubernetes', {type: 'kubernetes'})).status, 204)
  const config = await root('POST', 'auth/kubernetes/config', {
    kubernetes_host: lab.controlPlane.server,
    kubernetes_ca_cert: lab.controlPlane.caPem,
    token_reviewer_jwt: await tokenFor('token-reviewer', 'openbao'),
    // OpenBao runs outside any Pod here: no mounted ServiceAccount files to fall back on.
    disable_local_ca_jwt: true,
  })
  t.equal(config.status, 204, JSON.stringify(config.body))
  const policy = await root('PUT', 'sys/policies/acl/billing-read', {policy: 'path "secret/data/billing/*" { capabilities = ["read"] }'})
  t.equal(policy.status, 204)
  const role = await root('POST', 'auth/kubernetes/role/billing', {
    bound_service_account_names: ['billing'],
    bound_service_account_namespaces: ['apps'],
    token_policies: ['billing-read'],
    token_ttl: '10m',
  })
  t.equal(role.status, 204, JSON.stringify(role.body))
  const secret = await root('POST', 'secret/data/billing/db', {data: {password: 'lab-only-value'}})
  t.equal(secret.status, 200, 'dev mode mounts kv-v2 at secret/')
})

t.test('the bound ServiceAccount logs in and gets exactly its role\'s policies', async (t) => {
  const jwt = await tokenFor('billing', 'apps')
  const login = await bao(lab.baoAddr, undefined, 'POST', 'auth/kubernetes/login', {role: 'billing', jwt})
  t.equal(login.status, 200, JSON.stringify(login.body))
  const auth = login.body.auth
  t.same([...auth.token_policies].sort(), ['billing-read', 'default'])
  t.match(auth.metadata, {service_account_name: 'billing', service_account_namespace: 'apps'})

  const read = await bao(lab.baoAddr, auth.client_token, 'GET', 'secret/data/billing/db')
  t.equal(read.status, 200)
  t.equal(read.body.data.data.password, 'lab-only-value')
  const elsewhere = await bao(lab.baoAddr, auth.client_token, 'GET', 'secret/data/other/db')
  t.equal(elsewhere.status, 403, 'nothing beyond the policy')
})

t.test('another ServiceAccount\'s token is refused', async (t) => {
  const jwt = await tokenFor('intruder', 'apps')
  const login = await bao(lab.baoAddr, undefined, 'POST', 'auth/kubernetes/login', {role: 'billing', jwt})
  t.equal(login.status, 403, JSON.stringify(login.body))
  t.match(JSON.stringify(login.body.errors), /not authorized/)
})

t.test('a forged token is refused, and a token dies with its ServiceAccount (TokenReview is live)', async (t) => {
  const jwt = await tokenFor('billing', 'apps')
  const [h, p] = jwt.split('.')
  const forged = await bao(lab.baoAddr, undefined, 'POST', 'auth/kubernetes/login', {role: 'billing', jwt: `${h}.${p}.AAAA`})
  t.equal(forged.status, 403, 'bad signature')

  await core.deleteNamespacedServiceAccount({name: 'billing', namespace: 'apps'})
  const status = await eventually('login to fail after the ServiceAccount is deleted', async () => {
    const r = await bao(lab.baoAddr, undefined, 'POST', 'auth/kubernetes/login', {role: 'billing', jwt})
    return r.status === 200 ? undefined : r.status
  })
  t.equal(status, 403)
})
