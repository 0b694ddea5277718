import {readFileSync} from 'node:fs'
import {CoreV1Api, RbacAuthorizationV1Api, type KubeConfig, type V1ClusterRoleBinding} from '@kubernetes/client-node'
import {CloudtaserError, ExitCode} from '../errors.js'
import {kubeApiError, statusCode} from '../kube/errors.js'
import {summarize, type Action, type ActionSummary} from './actions.js'
import type {ClientStats, OpenBaoClient} from './client.js'

/**
 * `target connect`: OpenBao's kubernetes auth method learns how to check this cluster's
 * ServiceAccount tokens: the API address, its CA, and a token reviewer (a dedicated
 * ServiceAccount bound to system:auth-delegator, whose token comes from TokenRequest so no
 * Kubernetes Secret is created).
 */
export interface ConnectTarget {
  authMount: string
  kubernetesHost: string
  caPem: string
  reviewerNamespace: string
  reviewerServiceAccount: string
  bindingName: string
  /** Lifetime asked for the reviewer token (the apiserver may shorten it). */
  tokenSeconds: number
  /** Fetch and store a new reviewer token even when nothing else changes. */
  renewToken: boolean
}

export const CONNECT_DEFAULTS = {
  authMount: 'kubernetes',
  reviewerNamespace: 'cloudtaser-system',
  reviewerServiceAccount: 'cloudtaser-token-reviewer',
  bindingName: 'cloudtaser-token-reviewer',
  tokenSeconds: 365 * 24 * 3600,
} as const

const MANAGED_LABEL = {'app.kubernetes.io/managed-by': 'cloudtaser'}

export interface ConnectObserved {
  /** Type of the auth method at the mount, if any. */
  authType?: string
  authConfig?: {kubernetes_host?: string; kubernetes_ca_cert?: string; token_reviewer_jwt_set?: boolean; disable_local_ca_jwt?: boolean}
  namespace: boolean
  serviceAccount: boolean
  binding?: {roleRef: string; subjects: string[]; managed: boolean}
}

const samePem = (a?: string, b?: string) => (a ?? '').trim() === (b ?? '').trim()
const subjectOf = (t: ConnectTarget) => `ServiceAccount:${t.reviewerNamespace}/${t.reviewerServiceAccount}`

/** Pure. */
export function planConnect(t: ConnectTarget, o: ConnectObserved, options: {force?: boolean} = {}): Action[] {
  const actions: Action[] = []
  if (!o.authType) actions.push({resource: 'auth-method', name: t.authMount, kind: 'create', reason: 'type kubernetes'})
  else if (o.authType !== 'kubernetes') actions.push({resource: 'auth-method', name: t.authMount, kind: 'conflict', reason: `auth/${t.authMount}/ is a ${o.authType} auth method`})
  else actions.push({resource: 'auth-method', name: t.authMount, kind: 'unchanged'})

  actions.push({resource: 'namespace', name: t.reviewerNamespace, kind: o.namespace ? 'unchanged' : 'create'})
  actions.push({resource: 'service-account', name: `${t.reviewerNamespace}/${t.reviewerServiceAccount}`, kind: o.serviceAccount ? 'unchanged' : 'create'})
  if (!o.binding) actions.push({resource: 'cluster-role-binding', name: t.bindingName, kind: 'create', reason: 'system:auth-delegator'})
  else {
    const right = o.binding.roleRef === 'ClusterRole:system:auth-delegator' && o.binding.subjects.includes(subjectOf(t))
    if (right) actions.push({resource: 'cluster-role-binding', name: t.bindingName, kind: 'unchanged'})
    else if (!o.binding.managed && !options.force) {
      actions.push({resource: 'cluster-role-binding', name: t.bindingName, kind: 'conflict', reason: `exists (${o.binding.roleRef}) and was not created by cloudtaser; --force replaces it`})
    } else actions.push({resource: 'cluster-role-binding', name: t.bindingName, kind: 'update', reason: 'roleRef or subjects differ (replaced)'})
  }

  const c = o.authConfig
  const changes: string[] = []
  if (c?.kubernetes_host !== t.kubernetesHost) changes.push('kubernetes_host')
  if (!samePem(c?.kubernetes_ca_cert, t.caPem)) changes.push('kubernetes_ca_cert')
  if (c?.disable_local_ca_jwt !== true) changes.push('disable_local_ca_jwt')
  if (!c?.token_reviewer_jwt_set) changes.push('token_reviewer_jwt')
  else if (t.renewToken) changes.push('token_reviewer_jwt (renewed)')
  // A new reviewer ServiceAccount means any stored token belongs to an account that did not exist.
  else if (!o.serviceAccount) changes.push('token_reviewer_jwt')
  // Any config write stores a fresh reviewer token (see executeConnect); say so.
  if (changes.length && !changes.some((c) => c.startsWith('token_reviewer_jwt'))) changes.push('token_reviewer_jwt (renewed)')
  const name = `auth/${t.authMount}/config`
  if (!c || !o.authType) actions.push({resource: 'auth-config', name, kind: 'create'})
  else actions.push({resource: 'auth-config', name, kind: changes.length ? 'update' : 'unchanged', changes: changes.length ? changes : undefined, reason: changes.length ? `${changes.join(', ')}` : undefined})
  return actions
}

const is404 = (err: unknown) => statusCode(err) === 404

export async function observeConnect(client: OpenBaoClient, kc: KubeConfig, t: ConnectTarget): Promise<ConnectObserved> {
  const core = kc.makeApiClient(CoreV1Api)
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api)
  const mounts = await client.call<{data?: Record<string, {type?: string}>} & Record<string, unknown>>('GET', 'sys/auth')
  const table = (mounts.body?.data ?? mounts.body ?? {}) as Record<string, {type?: string}>
  const authType = table[`${t.authMount}/`]?.type
  const authConfig =
    authType === 'kubernetes' ? (await client.read<{data?: ConnectObserved['authConfig']}>(`auth/${t.authMount}/config`))?.data : undefined
  const exists = async (fn: () => Promise<unknown>) => {
    try {
      await fn()
      return true
    } catch (err) {
      if (is404(err)) return false
      throw kubeError(err)
    }
  }
  const namespace = await exists(() => core.readNamespace({name: t.reviewerNamespace}))
  const serviceAccount = namespace && (await exists(() => core.readNamespacedServiceAccount({name: t.reviewerServiceAccount, namespace: t.reviewerNamespace})))
  let binding: ConnectObserved['binding']
  try {
    const b: V1ClusterRoleBinding = await rbac.readClusterRoleBinding({name: t.bindingName})
    binding = {
      roleRef: `${b.roleRef.kind}:${b.roleRef.name}`,
      subjects: (b.subjects ?? []).map((s) => `${s.kind}:${s.namespace}/${s.name}`),
      managed: b.metadata?.labels?.['app.kubernetes.io/managed-by'] === 'cloudtaser',
    }
  } catch (err) {
    if (!is404(err)) throw kubeError(err)
  }
  return {authType, authConfig: authConfig ?? undefined, namespace, serviceAccount, binding}
}

export async function executeConnect(client: OpenBaoClient, kc: KubeConfig, t: ConnectTarget, actions: readonly Action[]): Promise<{tokenExpires?: string}> {
  const core = kc.makeApiClient(CoreV1Api)
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api)
  const todo = (r: Action['resource']) => actions.find((a) => a.resource === r && (a.kind === 'create' || a.kind === 'update'))
  try {
    if (todo('namespace')) await core.createNamespace({body: {metadata: {name: t.reviewerNamespace, labels: MANAGED_LABEL}}})
    if (todo('service-account')) {
      await core.createNamespacedServiceAccount({namespace: t.reviewerNamespace, body: {metadata: {name: t.reviewerServiceAccount, labels: MANAGED_LABEL}}})
    }
    const crb = todo('cluster-role-binding')
    if (crb) {
      // roleRef is immutable: replace.
      if (crb.kind === 'update') await rbac.deleteClusterRoleBinding({name: t.bindingName})
      await rbac.createClusterRoleBinding({
        body: {
          metadata: {name: t.bindingName, labels: MANAGED_LABEL},
          roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator'},
          subjects: [{kind: 'ServiceAccount', name: t.reviewerServiceAccount, namespace: t.reviewerNamespace}],
        },
      })
    }
  } catch (err) {
    throw kubeError(err)
  }
  if (todo('auth-method')) await client.write(`sys/auth/${t.authMount}`, {type: 'kubernetes', description: 'cloudtaser: workloads of one cluster'})
  const config = todo('auth-config')
  if (!config) return {}
  // Every config write carries a reviewer token: the auth plugin rebuilds its config from the
  // fields given, and an omitted token_reviewer_jwt would silently fall back to reviewing each
  // login with the login's own JWT.
  const body: Record<string, unknown> = {kubernetes_host: t.kubernetesHost, kubernetes_ca_cert: t.caPem, disable_local_ca_jwt: true}
  let tokenExpires: string | undefined
  {
    let token: string | undefined
    try {
      const r = await core.createNamespacedServiceAccountToken({
        name: t.reviewerServiceAccount,
        namespace: t.reviewerNamespace,
        body: {spec: {expirationSeconds: t.tokenSeconds, audiences: []}},
      })
      token = r.status?.token
      tokenExpires = r.status?.expirationTimestamp ? new Date(r.status.expirationTimestamp).toISOString() : undefined
    } catch (err) {
      throw kubeError(err)
    }
    if (!token) throw new CloudtaserError('KUBE_TOKEN_REQUEST', 'TokenRequest returned no token for the reviewer ServiceAccount', {exitCode: ExitCode.UNAVAILABLE})
    body.token_reviewer_jwt = token
  }
  await client.write(`auth/${t.authMount}/config`, body)
  return {tokenExpires}
}

/** The API address and CA from the kubeconfig's current cluster; flags may override either. */
export function clusterEndpoint(kc: KubeConfig, override: {host?: string; caFile?: string} = {}): {kubernetesHost: string; caPem: string} {
  const cluster = kc.getCurrentCluster()
  if (!cluster) throw new CloudtaserError('KUBE_NO_CLUSTER', 'the kubeconfig has no current cluster', {exitCode: ExitCode.CONFIG})
  let caPem: string | undefined
  try {
    if (override.caFile) caPem = readFileSync(override.caFile, 'utf8')
    else if (cluster.caData) caPem = Buffer.from(cluster.caData, 'base64').toString('utf8')
    else if (cluster.caFile) caPem = readFileSync(cluster.caFile, 'utf8')
  } catch (err) {
    throw new CloudtaserError('KUBE_CA_UNREADABLE', `cannot read the cluster CA: ${(err as Error).message}`, {exitCode: ExitCode.CONFIG, cause: err})
  }
  if (!caPem) {
    throw new CloudtaserError('KUBE_NO_CA', `the kubeconfig gives no CA for cluster ${cluster.name}; OpenBao must verify the API server`, {
      exitCode: ExitCode.CONFIG,
      hint: 'Pass --kubernetes-ca-cert FILE.',
    })
  }
  return {kubernetesHost: override.host ?? cluster.server, caPem}
}

const kubeError = (err: unknown): CloudtaserError => kubeApiError(err, 'target connect')

export interface ConnectResult {
  dryRun: boolean
  authMount: string
  kubernetesHost: string
  actions: Action[]
  summary: ActionSummary
  refused: boolean
  /** When the stored reviewer token expires (run connect again, or --renew-reviewer-token, before then). */
  reviewerTokenExpires?: string
  requests: ClientStats
}

export async function connectCluster(client: OpenBaoClient, kc: KubeConfig, t: ConnectTarget, options: {dryRun?: boolean; force?: boolean} = {}): Promise<ConnectResult> {
  const observed = await observeConnect(client, kc, t)
  const actions = planConnect(t, observed, options)
  const summary = summarize(actions)
  const refused = summary.conflict > 0
  let reviewerTokenExpires: string | undefined
  if (!options.dryRun && !refused) reviewerTokenExpires = (await executeConnect(client, kc, t, actions)).tokenExpires
  return {dryRun: Boolean(options.dryRun), authMount: t.authMount, kubernetesHost: t.kubernetesHost, actions, summary, refused, reviewerTokenExpires, requests: structuredClone(client.stats)}
}
