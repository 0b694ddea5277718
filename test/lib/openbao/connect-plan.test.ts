// target connect's pure transform.
import t from 'tap'
import {CONNECT_DEFAULTS, planConnect, type ConnectObserved, type ConnectTarget} from '../../../lib/openbao/connect.js'

const target: ConnectTarget = {...CONNECT_DEFAULTS, kubernetesHost: 'https://127.0.0.1:6443', caPem: 'PEM\n', renewToken: false}
const done: ConnectObserved = {
  authType: 'kubernetes',
  authConfig: {kubernetes_host: 'https://127.0.0.1:6443', kubernetes_ca_cert: 'PEM', disable_local_ca_jwt: true, token_reviewer_jwt_set: true},
  namespace: true,
  serviceAccount: true,
  binding: {roleRef: 'ClusterRole:system:auth-delegator', subjects: ['ServiceAccount:cloudtaser-system/cloudtaser-token-reviewer'], managed: true},
}
const kinds = (a: {resource: string; kind: string}[]) => a.map((x) => `${x.resource}:${x.kind}`)

t.test('fresh cluster and OpenBao: create everything', async (t) => {
  t.same(kinds(planConnect(target, {namespace: false, serviceAccount: false})), [
    'auth-method:create',
    'namespace:create',
    'service-account:create',
    'cluster-role-binding:create',
    'auth-config:create',
  ])
})

t.test('configured: all unchanged; --renew-reviewer-token updates the config only', async (t) => {
  t.same(new Set(planConnect(target, done).map((a) => a.kind)), new Set(['unchanged']))
  const renew = planConnect({...target, renewToken: true}, done)
  t.same(renew.filter((a) => a.kind !== 'unchanged').map((a) => a.changes), [['token_reviewer_jwt (renewed)']])
})

t.test('drift: host and CA', async (t) => {
  const a = planConnect({...target, kubernetesHost: 'https://10.0.0.1:6443', caPem: 'OTHER'}, done).find((x) => x.resource === 'auth-config')!
  t.equal(a.kind, 'update')
  t.same(a.changes, ['kubernetes_host', 'kubernetes_ca_cert', 'token_reviewer_jwt (renewed)'])
})

t.test('conflicts: another auth type at the mount; a foreign binding unless --force', async (t) => {
  t.equal(planConnect(target, {...done, authType: 'userpass'})[0]!.kind, 'conflict')
  const foreign = {...done, binding: {roleRef: 'ClusterRole:cluster-admin', subjects: [], managed: false}}
  t.equal(planConnect(target, foreign)[3]!.kind, 'conflict')
  t.equal(planConnect(target, foreign, {force: true})[3]!.kind, 'update')
})
