import type {KubeConfig, V1Container, V1PodSpec, V1PodTemplateSpec, V1Volume} from '@kubernetes/client-node'
import {Annotations, INJECT_LABEL} from '../annotations.js'
import type {KubeTarget} from '../kube/kubeconfig.js'
import {CloudtaserError, ExitCode} from '../errors.js'
import {kubeHttp, listAll, METADATA_ONLY} from '../kube/http.js'
import type {LiveWorkload} from '../kube/pod-template.js'
import type {WorkloadKind} from '../plan/types.generated.js'
import {SYSTEM_NAMESPACES, VAULT_INJECT, type Observed} from './transform.js'

export interface CollectOptions {
  namespaces?: string[]
  excludeNamespaces?: string[]
  includeSystem?: boolean
  clusterName: string
  onProgress?: (message: string) => void
}

const LISTS: Array<{kind: WorkloadKind; path: string}> = [
  {kind: 'Deployment', path: 'apis/apps/v1/{ns}deployments'},
  {kind: 'StatefulSet', path: 'apis/apps/v1/{ns}statefulsets'},
  {kind: 'DaemonSet', path: 'apis/apps/v1/{ns}daemonsets'},
  {kind: 'CronJob', path: 'apis/batch/v1/{ns}cronjobs'},
]

/**
 * Reads what discover needs, read-only and never a Secret value: workloads, Jobs and Pods by
 * list calls, and Secrets as PartialObjectMetadata (names only: needs `list` on secrets, and
 * the response carries no data). `get` on Secrets is never used.
 */
export async function collect(kc: KubeConfig | KubeTarget, options: CollectOptions): Promise<Observed> {
  const http = await kubeHttp(kc)
  const progress = options.onProgress ?? (() => undefined)
  const ks = await http.get<{metadata: {uid: string}}>('/api/v1/namespaces/kube-system')
  const excluded = new Set([...(options.includeSystem ? [] : SYSTEM_NAMESPACES), ...(options.excludeNamespaces ?? [])])

  let scopes: string[]
  if (options.namespaces?.length) {
    for (const ns of options.namespaces) {
      await http.get(`/api/v1/namespaces/${encodeURIComponent(ns)}`).catch((err: CloudtaserError) => {
        if (err.code === 'KUBE_NOT_FOUND') throw new CloudtaserError('KUBE_NAMESPACE_UNKNOWN', `namespace "${ns}" does not exist in this cluster`, {exitCode: ExitCode.USAGE, hint: 'List namespaces with `kubectl get namespaces`.'})
        throw err
      })
    }
    // Namespaces named with -n are listed even when they would be skipped by default.
    scopes = [...options.namespaces]
  } else {
    scopes = []
  }
  const all = scopes.length === 0
  const prefixes = all ? [''] : scopes.map((ns) => `namespaces/${encodeURIComponent(ns)}/`)
  const list = async <T>(template: string, label: string, accept?: string, keep?: (item: T) => T): Promise<T[]> => {
    const out: T[] = []
    for (const p of prefixes) {
      const path = `/${template.replace('{ns}', p)}`
      const base = out.length
      for (const item of await listAll<T>(http, path, (n) => progress(`listed ${base + n} ${label}`), accept, keep)) out.push(item)
    }
    return out
  }

  const workloads: Observed['workloads'] = []
  for (const {kind, path} of LISTS) {
    for (const object of await list<LiveWorkload>(path, `${kind}s`, undefined, trim)) workloads.push({kind, object})
  }
  const jobs = await list<LiveWorkload>('apis/batch/v1/{ns}jobs', 'Jobs', undefined, trim)
  const pods = await list<LiveWorkload>('api/v1/{ns}pods', 'Pods', undefined, trimPod)
  const secretMeta = await list<{metadata: {namespace: string; name: string}}>('api/v1/{ns}secrets', 'Secret names', METADATA_ONLY, (s) => ({
    metadata: {namespace: s.metadata.namespace, name: s.metadata.name},
  }))

  const seen = new Set<string>([...workloads.map((w) => w.object.metadata?.namespace ?? ''), ...jobs.map((j) => j.metadata?.namespace ?? ''), ...pods.map((p) => p.metadata?.namespace ?? '')])
  const namespaces = all ? [...seen].filter((ns) => ns && !excluded.has(ns)).sort() : scopes.filter((ns) => !(options.excludeNamespaces ?? []).includes(ns))
  return {
    clusterName: options.clusterName,
    fingerprint: ks.metadata.uid,
    server: http.server,
    namespaces,
    workloads,
    jobs,
    pods,
    secrets: new Set(secretMeta.map((s) => `${s.metadata.namespace}/${s.metadata.name}`)),
  }
}

type Meta = {name?: string; namespace?: string; ownerReferences?: Array<{kind: string}>}
const trimMeta = (m: Meta | undefined): Meta => ({name: m?.name, namespace: m?.namespace, ...(m?.ownerReferences ? {ownerReferences: m.ownerReferences.map((o) => ({kind: o.kind}))} : {})})

const pick = (from: Record<string, string> | undefined, keys: string[]): Record<string, string> | undefined => {
  if (!from) return undefined
  const out: Record<string, string> = {}
  for (const k of keys) if (from[k] !== undefined) out[k] = from[k]
  return out
}

/**
 * The parts of a pod spec the transform reads, nothing else: on 10,000 workloads the probes,
 * resources and defaulted fields would be most of what discover holds. List positions are kept
 * (a plain env entry becomes `{name}`, a non-Secret volume `{name}`) because the plan records
 * each reference's index for unprotect.
 */
export function trimPodSpec(spec: V1PodSpec | undefined): V1PodSpec | undefined {
  if (!spec) return undefined
  const container = (c: V1Container): V1Container => ({
    name: c.name,
    ...(c.image ? {image: c.image} : {}),
    ...(c.env ? {env: c.env.map((e) => (e.valueFrom?.secretKeyRef ? {name: e.name, valueFrom: {secretKeyRef: e.valueFrom.secretKeyRef}} : {name: e.name}))} : {}),
    ...(c.envFrom ? {envFrom: c.envFrom} : {}),
    ...(c.volumeMounts ? {volumeMounts: c.volumeMounts.map((m) => ({name: m.name, mountPath: m.mountPath}))} : {}),
  })
  const volume = (v: V1Volume): V1Volume => ({
    name: v.name,
    ...(v.secret ? {secret: v.secret} : {}),
    ...(v.projected ? {projected: {sources: (v.projected.sources ?? []).map((p) => (p.secret ? {secret: p.secret} : {}))}} : {}),
  })
  return {
    ...(spec.serviceAccountName ? {serviceAccountName: spec.serviceAccountName} : {}),
    ...(spec.imagePullSecrets ? {imagePullSecrets: spec.imagePullSecrets} : {}),
    ...(spec.initContainers ? {initContainers: spec.initContainers.map(container)} : {}),
    containers: (spec.containers ?? []).map(container),
    ...(spec.volumes ? {volumes: spec.volumes.map(volume)} : {}),
  }
}

function trimTemplate(t: V1PodTemplateSpec | undefined): V1PodTemplateSpec | undefined {
  if (!t) return undefined
  return {
    metadata: {annotations: pick(t.metadata?.annotations, [Annotations.inject, VAULT_INJECT]), labels: pick(t.metadata?.labels, [INJECT_LABEL])},
    spec: trimPodSpec(t.spec),
  }
}

/** Keeps what the transform reads: names, owners, replicas and the trimmed pod template. */
function trim(o: LiveWorkload): LiveWorkload {
  const spec = o.spec as {replicas?: number; template?: V1PodTemplateSpec; jobTemplate?: {spec?: {template?: V1PodTemplateSpec}}} | undefined
  return {
    metadata: trimMeta(o.metadata as Meta),
    spec: {
      ...(spec?.replicas === undefined ? {} : {replicas: spec.replicas}),
      ...(spec?.template ? {template: trimTemplate(spec.template)} : {}),
      ...(spec?.jobTemplate ? {jobTemplate: {spec: {template: trimTemplate(spec.jobTemplate.spec?.template)}}} : {}),
    } as LiveWorkload['spec'],
  }
}

function trimPod(o: LiveWorkload): LiveWorkload {
  const meta = o.metadata as Meta | undefined
  // Pods owned by a controller are reported through their controller: keep nothing of them.
  if ((meta?.ownerReferences?.length ?? 0) > 0) return {metadata: trimMeta(meta)}
  return {metadata: trimMeta(meta), spec: trimPodSpec(o.spec as V1PodSpec)} as LiveWorkload
}

export async function fingerprint(kc: KubeConfig | KubeTarget): Promise<{uid: string; server: string}> {
  const http = await kubeHttp(kc)
  const ks = await http.get<{metadata: {uid: string}}>('/api/v1/namespaces/kube-system')
  return {uid: ks.metadata.uid, server: http.server}
}
