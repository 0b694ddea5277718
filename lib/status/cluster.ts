import {INJECT_LABEL, WEBHOOK_CONFIG_NAME} from '../annotations.js'
import {INIT_CONTAINER, WRAPPER_PATH} from '../wrapped-pod.js'
import {checkNodes, type NodeCheck} from '../check/nodes.js'
import {CloudtaserError} from '../errors.js'
import {eachListed, kubeHttp, type KubeHttp} from '../kube/http.js'
import type {KubeTarget} from '../kube/kubeconfig.js'
import type {KubeConfig} from '@kubernetes/client-node'

/** Names the chart (charts/cloudtaser) gives cloudtaser's own objects. */
export const OPERATOR_DEPLOYMENT = 'cloudtaser-operator'

export interface OperatorStatus {
  found: boolean
  desired: number
  ready: number
  /** The Lease holder of run-once work, when the operator uses one. */
  leader?: {holder: string; renewedSecondsAgo?: number}
}

export interface WebhookStatus {
  found: boolean
  failurePolicy?: string
  /** `service ns/name:port` or the URL the apiserver calls. */
  target?: string
  caBundle: boolean
  /** The operator's /readyz as the apiserver reaches it (service proxy), or why not. */
  reachable?: {ok: boolean; detail: string}
}

export interface WorkloadStatus {
  namespace: string
  kind: string
  name: string
  pods: number
  wrapped: number
  ready: number
  /** Pods marked for injection that run without the wrapper, not Ready, or stuck, each said why. */
  problems: string[]
}

export interface StatusReport {
  namespace: string
  operator: OperatorStatus
  webhook: WebhookStatus
  nodes: NodeCheck[]
  workloads: WorkloadStatus[]
  /** Every finding, one line each; empty when all is well. */
  problems: string[]
}

interface Pod {
  metadata: {name: string; namespace: string; labels?: Record<string, string>; ownerReferences?: Array<{kind: string; name: string}>; deletionTimestamp?: string}
  spec: {containers: Array<{name: string; command?: string[]}>; initContainers?: Array<{name: string}>}
  status?: {phase?: string; conditions?: Array<{type: string; status: string}>; containerStatuses?: Array<{name: string; state?: {waiting?: {reason?: string; message?: string}}; lastState?: {terminated?: {exitCode?: number; message?: string}}}>}
}

/**
 * `target status`: is cloudtaser installed and working, and does every Pod marked for injection
 * really run under the wrapper? Read-only; one list per kind.
 */
export async function clusterStatus(kc: KubeConfig | KubeTarget, namespace: string): Promise<StatusReport> {
  const http = await kubeHttp(kc)
  const [operator, webhook, nodes, workloads] = await Promise.all([operatorStatus(http, namespace), webhookStatus(http), checkNodes(kc), protectedWorkloads(http)])
  const problems: string[] = []
  if (!operator.found) problems.push(`no operator Deployment ${namespace}/${OPERATOR_DEPLOYMENT} (installed elsewhere, or run by hand?)`)
  else if (operator.ready === 0) problems.push(`operator: 0 of ${operator.desired} replicas ready`)
  else if (operator.ready < operator.desired) problems.push(`operator: ${operator.ready} of ${operator.desired} replicas ready`)
  if (!webhook.found) problems.push(`no MutatingWebhookConfiguration ${WEBHOOK_CONFIG_NAME}: no Pod is wrapped`)
  else {
    if (!webhook.caBundle) problems.push('the webhook has no caBundle yet: the apiserver cannot call it')
    if (webhook.reachable && !webhook.reachable.ok) problems.push(`the webhook is not reachable: ${webhook.reachable.detail}`)
  }
  for (const n of nodes.nodes) if (n.verdict !== 'enforce') problems.push(`node ${n.name}: ${n.verdict}${n.reason ? ` (${n.reason})` : ''}`)
  for (const w of workloads) for (const p of w.problems) problems.push(`${w.kind} ${w.namespace}/${w.name}: ${p}`)
  return {namespace, operator, webhook, nodes: nodes.nodes, workloads, problems}
}

async function operatorStatus(http: KubeHttp, namespace: string): Promise<OperatorStatus> {
  const d = await http.get<{spec?: {replicas?: number}; status?: {readyReplicas?: number}}>(`/apis/apps/v1/namespaces/${namespace}/deployments/${OPERATOR_DEPLOYMENT}`).catch(notFound)
  if (!d) return {found: false, desired: 0, ready: 0}
  const out: OperatorStatus = {found: true, desired: d.spec?.replicas ?? 1, ready: d.status?.readyReplicas ?? 0}
  const lease = await http.get<{spec?: {holderIdentity?: string; renewTime?: string}}>(`/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${OPERATOR_DEPLOYMENT}-leader`).catch(notFound)
  if (lease?.spec?.holderIdentity) {
    out.leader = {holder: lease.spec.holderIdentity, ...(lease.spec.renewTime ? {renewedSecondsAgo: Math.round((Date.now() - Date.parse(lease.spec.renewTime)) / 1000)} : {})}
  }
  return out
}

interface WebhookConfig {
  webhooks?: Array<{failurePolicy?: string; clientConfig?: {caBundle?: string; url?: string; service?: {name: string; namespace: string; port?: number}}}>
}

async function webhookStatus(http: KubeHttp): Promise<WebhookStatus> {
  const cfg = await http.get<WebhookConfig>(`/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${WEBHOOK_CONFIG_NAME}`).catch(notFound)
  const hook = cfg?.webhooks?.[0]
  if (!hook) return {found: false, caBundle: false}
  const cc = hook.clientConfig ?? {}
  const out: WebhookStatus = {found: true, failurePolicy: hook.failurePolicy, caBundle: Boolean(cc.caBundle), target: cc.service ? `service ${cc.service.namespace}/${cc.service.name}:${cc.service.port ?? 443}` : cc.url}
  if (cc.service) {
    // Through the apiserver's service proxy: the same network path admission takes.
    const path = `/api/v1/namespaces/${cc.service.namespace}/services/https:${cc.service.name}:${cc.service.port ?? 443}/proxy/readyz`
    out.reachable = await http.getText(path).then(
      () => ({ok: true, detail: 'readyz answered through the apiserver'}),
      (err: Error) => ({ok: false, detail: err.message}),
    )
  }
  return out
}

async function protectedWorkloads(http: KubeHttp): Promise<WorkloadStatus[]> {
  const byOwner = new Map<string, WorkloadStatus>()
  await eachListed<Pod>(http, `/api/v1/pods?labelSelector=${encodeURIComponent(`${INJECT_LABEL}=true`)}`, (p) => {
    if (p.metadata.deletionTimestamp) return
    const {kind, name} = ownerOf(p)
    const key = `${p.metadata.namespace}/${kind}/${name}`
    const w = byOwner.get(key) ?? {namespace: p.metadata.namespace, kind, name, pods: 0, wrapped: 0, ready: 0, problems: []}
    byOwner.set(key, w)
    w.pods++
    const wrapped = p.spec.initContainers?.[0]?.name === INIT_CONTAINER && p.spec.containers.every((c) => c.command?.[0] === WRAPPER_PATH)
    if (wrapped) w.wrapped++
    else w.problems.push(`Pod ${p.metadata.name} is marked for injection but runs without the wrapper (created while the webhook was not answering under failurePolicy Ignore, or excluded)`)
    const ready = p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
    if (ready) w.ready++
    const stuck = p.status?.containerStatuses?.find((c) => c.state?.waiting?.reason && c.state.waiting.reason !== 'ContainerCreating')
    // The last exit's termination message: where the wrapper writes why it did not start the app.
    const last = stuck?.lastState?.terminated
    const lastExit = last ? `; last exit ${last.exitCode ?? '?'}${last.message ? `: ${last.message.trim()}` : ''}` : ''
    if (stuck) w.problems.push(`Pod ${p.metadata.name} container ${stuck.name}: ${stuck.state!.waiting!.reason}${stuck.state!.waiting!.message ? `: ${stuck.state!.waiting!.message}` : ''}${lastExit}`)
    else if (!ready && p.status?.phase !== 'Succeeded') w.problems.push(`Pod ${p.metadata.name} is not Ready (${p.status?.phase ?? 'unknown phase'})`)
  })
  return [...byOwner.values()].sort((a, b) => `${a.namespace}/${a.kind}/${a.name}`.localeCompare(`${b.namespace}/${b.kind}/${b.name}`))
}

/** The controller a Pod belongs to: a ReplicaSet's Pods are their Deployment's. */
function ownerOf(p: Pod): {kind: string; name: string} {
  const o = p.metadata.ownerReferences?.[0]
  if (!o) return {kind: 'Pod', name: p.metadata.name}
  const hash = p.metadata.labels?.['pod-template-hash']
  if (o.kind === 'ReplicaSet' && hash && o.name.endsWith(`-${hash}`)) return {kind: 'Deployment', name: o.name.slice(0, -hash.length - 1)}
  if (o.kind === 'Job' && p.metadata.labels?.['batch.kubernetes.io/controller-uid']) return {kind: 'Job', name: o.name}
  return {kind: o.kind, name: o.name}
}

const notFound = (err: unknown): undefined => {
  if (err instanceof CloudtaserError && err.code === 'KUBE_NOT_FOUND') return undefined
  throw err
}
