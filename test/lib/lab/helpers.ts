// Shared by the lab's tests: polling, and OpenBao's HTTP API through fetch.
import {setTimeout as sleep} from 'node:timers/promises'
import {CoreV1Api, RbacAuthorizationV1Api} from '@kubernetes/client-node'
import type {Lab} from '../../../lib/lab/index.js'

/** Retries `fn` until it returns a value other than undefined or the time is up. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v !== undefined) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`)
    await sleep(200)
  }
}

export interface BaoResponse {
  status: number
  body: any // eslint-disable-line @typescript-eslint/no-explicit-any -- OpenBao's JSON varies by endpoint
}

/** One call to OpenBao's HTTP API (`bao` CLI equivalents noted at the call sites). */
export async function bao(addr: string, token: string | undefined, method: string, path: string, body?: unknown): Promise<BaoResponse> {
  const headers: Record<string, string> = {}
  if (token) headers['X-Vault-Token'] = token
  const r = await fetch(`${addr}/v1/${path}`, {method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(10_000)})
  const text = await r.text()
  return {status: r.status, body: text ? JSON.parse(text) : undefined}
}

/**
 * OpenBao checking ServiceAccount tokens as in a cluster: kubernetes auth at `auth/k8s-lab`
 * against the lab's apiserver, reviewing with `openbao/token-reviewer` (system:auth-delegator);
 * the app's account `apps/billing` exists. Returns a TokenRequest minter for any account.
 */
export async function kubernetesAuth(lab: Lab): Promise<(name: string, namespace: string) => Promise<string>> {
  const core = lab.kubeConfig.makeApiClient(CoreV1Api)
  const rbac = lab.kubeConfig.makeApiClient(RbacAuthorizationV1Api)
  const tokenFor = async (name: string, namespace: string) =>
    (await core.createNamespacedServiceAccountToken({name, namespace, body: {spec: {expirationSeconds: 600, audiences: []}}})).status!.token!
  for (const namespace of ['openbao', 'apps']) await core.createNamespace({body: {metadata: {name: namespace}}})
  for (const [namespace, name] of [['openbao', 'token-reviewer'], ['apps', 'billing']] as const) await core.createNamespacedServiceAccount({namespace, body: {metadata: {name}}})
  await rbac.createClusterRoleBinding({
    body: {
      metadata: {name: 'openbao-token-reviewer'},
      roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator'},
      subjects: [{kind: 'ServiceAccount', name: 'token-reviewer', namespace: 'openbao'}],
    },
  })
  const root = (method: string, path: string, body?: unknown) => bao(lab.baoAddr, lab.baoToken, method, path, body)
  await root('POST', 'sys/auth/k8s-lab', {type: 'kubernetes'})
  await root('POST', 'auth/k8s-lab/config', {kubernetes_host: lab.controlPlane.server, kubernetes_ca_cert: lab.controlPlane.caPem, token_reviewer_jwt: await tokenFor('token-reviewer', 'openbao'), disable_local_ca_jwt: true})
  return tokenFor
}
