// Kubernetes failures -> what a person can act on. Bodies are the apiserver's own Status texts.
import t from 'tap'
import {kubeError} from '../../../lib/kube/errors.js'

const status = (message: string): string => JSON.stringify({kind: 'Status', apiVersion: 'v1', status: 'Failure', message})

t.test('RBAC denial names verb, resource, group and namespace', async (t) => {
  const e = kubeError({statusCode: 403, server: 'https://k', path: '/apis/apps/v1/namespaces/shop/deployments', body: status('deployments.apps is forbidden: User "system:serviceaccount:a:b" cannot list resource "deployments" in API group "apps" in the namespace "shop"')})
  t.match(e, {code: 'KUBE_FORBIDDEN', exitCode: 4, message: 'RBAC denied: missing permission to list deployments.apps in namespace shop', details: {verb: 'list', resource: 'deployments', group: 'apps', namespace: 'shop'}})
  t.match(e.hint, /Grant the verb "list" on "deployments"/)
  const cluster = kubeError({statusCode: 403, body: status('namespaces "kube-system" is forbidden: User "x" cannot get resource "namespaces" in API group "" at the cluster scope')})
  t.equal(cluster.message, 'RBAC denied: missing permission to get namespaces at cluster scope')
  const odd = kubeError({statusCode: 403, body: 'forbidden by a webhook'})
  t.match(odd, {code: 'KUBE_FORBIDDEN', message: /forbidden by a webhook/})
})

t.test('expired or invalid credentials, unreachable server, not found, anything else', async (t) => {
  t.match(kubeError({statusCode: 401, server: 'https://k', body: status('Unauthorized')}), {code: 'KUBE_UNAUTHORIZED', exitCode: 4, message: /refused the credentials \(401\): they are invalid or expired/})
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), {code: 'ECONNREFUSED'})
  t.match(kubeError({cause: refused, server: 'https://127.0.0.1:1'}), {code: 'KUBE_UNREACHABLE', exitCode: 5, message: 'cannot reach the Kubernetes API at https://127.0.0.1:1: ECONNREFUSED'})
  t.match(kubeError({cause: new Error('timed out')}), {code: 'KUBE_UNREACHABLE', message: /the cluster: timed out/})
  t.match(kubeError({statusCode: 404, path: '/api/v1/namespaces/x', body: status('namespaces "x" not found')}), {code: 'KUBE_NOT_FOUND', message: 'not found: /api/v1/namespaces/x (namespaces "x" not found)'})
  t.match(kubeError({statusCode: 500, path: '/p', body: '<html>oops'}), {code: 'KUBE_API_ERROR', exitCode: 5, message: 'the Kubernetes API answered 500 for /p: <html>oops'})
})
