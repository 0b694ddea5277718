// What the operator sees of one DebugReport's Pods: reads only (Pods, their events, nodes, the
// workload's template), plus one health probe per OpenBao address. findings.ts judges it.
import type {V1Pod} from '@kubernetes/client-node'
import {Annotations, ANNOTATION_PREFIX, INJECT_LABEL, NODE_KERNEL_LABEL} from '../../../lib/annotations.js'
import {MAX_PODS, type ContainerDiagnosis, type DebugReportSpec, type EventSummary, type PodDiagnosis, type WorkloadKind} from '../../../lib/debug/report.js'
import {CloudtaserError} from '../../../lib/errors.js'
import type {KubeHttp} from '../../../lib/kube/http.js'
import {isMutated, WRAPPER_PATH} from '../../../lib/wrapped-pod.js'
import {requiresEnforcingNode, WrapperEnv} from '../mutation.js'
import {probeOpenBao, type Probe} from './probe.js'

const WORKLOAD_PATHS: Record<WorkloadKind, string> = {
  Deployment: 'apis/apps/v1/namespaces/{ns}/deployments',
  StatefulSet: 'apis/apps/v1/namespaces/{ns}/statefulsets',
  DaemonSet: 'apis/apps/v1/namespaces/{ns}/daemonsets',
  ReplicaSet: 'apis/apps/v1/namespaces/{ns}/replicasets',
  Job: 'apis/batch/v1/namespaces/{ns}/jobs',
}

export interface Observation {
  template?: {labelled: boolean; annotations: Record<string, string>}
  pods: PodDiagnosis[]
}

interface Workload {
  spec?: {selector?: {matchLabels?: Record<string, string>}; template?: {metadata?: {labels?: Record<string, string>; annotations?: Record<string, string>}}}
}

interface Event {
  type?: string
  reason?: string
  message?: string
  count?: number
  lastTimestamp?: string
  eventTime?: string
  series?: {count?: number; lastObservedTime?: string}
}

/** A report that cannot be made (no such Pod or workload): the status says this message. */
export class NotObservable extends Error {}

const cloudtaserAnnotations = (a: Record<string, string> | undefined): Record<string, string> =>
  Object.fromEntries(Object.entries(a ?? {}).filter(([k]) => k.startsWith(ANNOTATION_PREFIX) && !k.startsWith(Annotations.entrypointPrefix)))

const missing = (what: string) => (err: unknown) => {
  if (err instanceof CloudtaserError && err.code === 'KUBE_NOT_FOUND') throw new NotObservable(`${what} not found`)
  throw err
}

export async function observe(http: KubeHttp, namespace: string, spec: DebugReportSpec, probe: Probe = probeOpenBao): Promise<Observation> {
  const ns = encodeURIComponent(namespace)
  let pods: V1Pod[]
  let template: Observation['template']
  if (spec.pod) {
    pods = [await http.get<V1Pod>(`/api/v1/namespaces/${ns}/pods/${encodeURIComponent(spec.pod)}`).catch(missing(`Pod ${namespace}/${spec.pod}`))]
  } else if (spec.workload) {
    const {kind, name} = spec.workload
    const base = WORKLOAD_PATHS[kind]
    if (!base) throw new NotObservable(`workload kind ${kind} is not one of ${Object.keys(WORKLOAD_PATHS).join(', ')}`)
    const w = await http.get<Workload>(`/${base.replace('{ns}', ns)}/${encodeURIComponent(name)}`).catch(missing(`${kind} ${namespace}/${name}`))
    const meta = w.spec?.template?.metadata
    template = {labelled: meta?.labels?.[INJECT_LABEL] === 'true', annotations: cloudtaserAnnotations(meta?.annotations)}
    const match = w.spec?.selector?.matchLabels
    if (!match || Object.keys(match).length === 0) throw new NotObservable(`${kind} ${namespace}/${name} selects its Pods without matchLabels; name a Pod instead`)
    const selector = Object.entries(match).map(([k, v]) => `${k}=${v}`).join(',')
    const list = await http.get<{items: V1Pod[]}>(`/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent(selector)}`)
    pods = list.items
      .filter((p) => !p.metadata?.deletionTimestamp)
      .sort((a, b) => String(b.metadata?.creationTimestamp ?? '').localeCompare(String(a.metadata?.creationTimestamp ?? '')))
      .slice(0, MAX_PODS)
  } else throw new NotObservable('spec names neither a pod nor a workload')

  const enforcing = await http.get<{items: unknown[]}>(`/api/v1/nodes?labelSelector=${encodeURIComponent(`${NODE_KERNEL_LABEL}=enforce`)}&limit=1`)
  const verdicts = new Map<string, Promise<string | undefined>>()
  const verdictOf = (node: string) => {
    if (!verdicts.has(node)) verdicts.set(node, http.get<{metadata?: {labels?: Record<string, string>}}>(`/api/v1/nodes/${encodeURIComponent(node)}`).then((n) => n.metadata?.labels?.[NODE_KERNEL_LABEL], () => undefined))
    return verdicts.get(node)!
  }
  const probes = new Map<string, ReturnType<Probe>>()
  const probeOnce = (address: string) => {
    if (!probes.has(address)) probes.set(address, probe(address))
    return probes.get(address)!
  }
  return {template, pods: await Promise.all(pods.map((p) => podDiagnosis(http, p, enforcing.items.length, verdictOf, probeOnce)))}
}

async function podDiagnosis(http: KubeHttp, pod: V1Pod, enforcingNodes: number, verdictOf: (node: string) => Promise<string | undefined>, probe: Probe): Promise<PodDiagnosis> {
  const meta = pod.metadata!
  const spec = pod.spec!
  const status = pod.status ?? {}
  const annotations = cloudtaserAnnotations(meta.annotations)
  const wrapped = isMutated(pod) && spec.containers.every((c) => c.command?.[0] === WRAPPER_PATH)
  const address = spec.containers.flatMap((c) => c.env ?? []).find((e) => e.name === WrapperEnv.vaultAddr)?.value
  const node = spec.nodeName
  const [events, connectivity, nodeVerdict] = await Promise.all([
    http
      .get<{items: Event[]}>(`/api/v1/namespaces/${encodeURIComponent(meta.namespace!)}/events?fieldSelector=${encodeURIComponent(`involvedObject.uid=${meta.uid}`)}`)
      .then((l) => l.items.map(summary).sort((a, b) => (a.last ?? '').localeCompare(b.last ?? '')).slice(-20)),
    address ? probe(address) : Promise.resolve({detail: wrapped ? 'the wrapper has no OpenBao address' : 'not wrapped: no OpenBao address to check'}),
    node ? verdictOf(node) : Promise.resolve(undefined),
  ])
  const containers: ContainerDiagnosis[] = spec.containers.map((c) => {
    const s = status.containerStatuses?.find((x) => x.name === c.name)
    const state = s?.state?.waiting ? 'waiting' : s?.state?.running ? 'running' : s?.state?.terminated ? 'terminated' : 'unknown'
    const now = s?.state?.waiting ?? s?.state?.terminated
    const last = s?.lastState?.terminated
    return {
      name: c.name,
      wrapped: c.command?.[0] === WRAPPER_PATH,
      state,
      ...(now?.reason ? {reason: now.reason} : {}),
      ...(now?.message ? {message: now.message.trim()} : {}),
      restarts: s?.restartCount ?? 0,
      ...(last ? {lastExit: {code: last.exitCode, ...(last.message ? {message: last.message.trim()} : {})}} : {}),
    }
  })
  const required = requiresEnforcingNode(spec.affinity)
  return {
    name: meta.name!,
    ...(node ? {node} : {}),
    ...(status.phase ? {phase: status.phase} : {}),
    ready: Boolean(status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')),
    injection: {labelled: meta.labels?.[INJECT_LABEL] === 'true', wrapped, annotations},
    containers,
    events,
    connectivity: {...(address ? {address} : {}), ...connectivity},
    kernel: {required, ...(node ? {node} : {}), ...(nodeVerdict ? {nodeVerdict} : {}), enforcingNodes},
  }
}

const summary = (e: Event): EventSummary => ({
  type: e.type ?? 'Normal',
  reason: e.reason ?? '',
  message: (e.message ?? '').trim(),
  count: e.series?.count ?? e.count ?? 1,
  ...(e.series?.lastObservedTime ?? e.lastTimestamp ?? e.eventTime ? {last: e.series?.lastObservedTime ?? e.lastTimestamp ?? e.eventTime} : {}),
})
