import type {V1CronJob, V1DaemonSet, V1Deployment, V1Ingress, V1Job, V1ObjectMeta, V1Pod, V1PodSpec, V1ReplicaSet, V1ReplicationController, V1ServiceAccount, V1StatefulSet} from '@kubernetes/client-node'
import {Annotations} from '../annotations.js'
import {isMutated} from '../wrapped-pod.js'

/**
 * Pure: who in a namespace references which Secret. A Secret can only be referenced from its
 * own namespace, so one namespace's objects answer "does anything else use it?" completely for
 * the kinds below: every Pod and every workload's pod template (env, envFrom, any volume that
 * names a Secret, imagePullSecrets), ServiceAccounts (imagePullSecrets, secrets) and Ingress TLS.
 * What is history, not use, is left out: ReplicaSets a Deployment scaled to zero (its rollout
 * history), finished Jobs and finished Pods.
 */
export interface NamespaceObjects {
  pods: V1Pod[]
  replicaSets: V1ReplicaSet[]
  deployments: V1Deployment[]
  statefulSets: V1StatefulSet[]
  daemonSets: V1DaemonSet[]
  jobs: V1Job[]
  cronJobs: V1CronJob[]
  replicationControllers: V1ReplicationController[]
  serviceAccounts: V1ServiceAccount[]
  ingresses: V1Ingress[]
}

type Add = (secret: string, how: string) => void

/** Every Secret a pod spec names, with where. Volumes are searched generically (CSI, FlexVolume, CephFS... name Secrets in their own fields). */
export function podSpecRefs(spec: V1PodSpec | undefined, add: Add): void {
  if (!spec) return
  for (const s of spec.imagePullSecrets ?? []) if (s.name) add(s.name, 'imagePullSecrets')
  const containers = [...(spec.initContainers ?? []).map((c) => ({c, kind: 'init container'})), ...(spec.containers ?? []).map((c) => ({c, kind: 'container'})), ...(spec.ephemeralContainers ?? []).map((c) => ({c, kind: 'ephemeral container'}))]
  for (const {c, kind} of containers) {
    for (const e of c.env ?? []) {
      const ref = e.valueFrom?.secretKeyRef
      if (ref?.name) add(ref.name, `env ${e.name} in ${kind} ${c.name}`)
    }
    for (const f of c.envFrom ?? []) if (f.secretRef?.name) add(f.secretRef.name, `envFrom in ${kind} ${c.name}`)
  }
  for (const v of spec.volumes ?? []) {
    if (v.secret?.secretName) add(v.secret.secretName, `volume ${v.name}`)
    for (const s of v.projected?.sources ?? []) if (s.secret?.name) add(s.secret.name, `projected volume ${v.name}`)
    const {secret: _s, projected: _p, ...others} = v
    deepRefs(others, (name) => add(name, `volume ${v.name}`))
  }
}

/** `secretName: x`, and `name` inside any `secretRef`/`*SecretRef` object. */
function deepRefs(value: unknown, found: (name: string) => void): void {
  if (!value || typeof value !== 'object') return
  if (Array.isArray(value)) return value.forEach((v) => deepRefs(v, found))
  for (const [k, v] of Object.entries(value)) {
    if (k === 'secretName' && typeof v === 'string' && v) found(v)
    else if (/^secretRef$|SecretRef$/.test(k) && v && typeof v === 'object' && typeof (v as {name?: unknown}).name === 'string') found((v as {name: string}).name)
    else deepRefs(v, found)
  }
}

const controllerOf = (meta: V1ObjectMeta | undefined): {kind: string; uid: string; name: string} | undefined => {
  const o = meta?.ownerReferences?.find((r) => r.controller)
  return o ? {kind: o.kind, uid: o.uid, name: o.name} : undefined
}

const finished = (job: V1Job): boolean => (job.status?.conditions ?? []).some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True')
const podDone = (p: V1Pod): boolean => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed'
const scaledToZero = (rs: V1ReplicaSet): boolean => (rs.spec?.replicas ?? 1) === 0 && (rs.status?.replicas ?? 0) === 0

/** Secret name -> who uses it now (`Kind/name: how`); history (see above) left out. */
export function secretUsers(o: NamespaceObjects): Map<string, string[]> {
  const users = new Map<string, string[]>()
  const by = (who: string): Add => (secret, how) => {
    const list = users.get(secret) ?? []
    const line = `${who}: ${how}`
    if (!list.includes(line)) list.push(line)
    users.set(secret, list)
  }
  for (const p of o.pods) if (!podDone(p)) podSpecRefs(p.spec, by(`Pod/${p.metadata?.name}`))
  for (const rs of o.replicaSets) {
    if (controllerOf(rs.metadata)?.kind === 'Deployment' && scaledToZero(rs)) continue
    podSpecRefs(rs.spec?.template?.spec, by(`ReplicaSet/${rs.metadata?.name}`))
  }
  for (const d of o.deployments) podSpecRefs(d.spec?.template?.spec, by(`Deployment/${d.metadata?.name}`))
  for (const s of o.statefulSets) podSpecRefs(s.spec?.template?.spec, by(`StatefulSet/${s.metadata?.name}`))
  for (const d of o.daemonSets) podSpecRefs(d.spec?.template?.spec, by(`DaemonSet/${d.metadata?.name}`))
  for (const j of o.jobs) if (!finished(j)) podSpecRefs(j.spec?.template?.spec, by(`Job/${j.metadata?.name}`))
  for (const c of o.cronJobs) podSpecRefs(c.spec?.jobTemplate?.spec?.template?.spec, by(`CronJob/${c.metadata?.name}`))
  for (const rc of o.replicationControllers) podSpecRefs(rc.spec?.template?.spec, by(`ReplicationController/${rc.metadata?.name}`))
  for (const sa of o.serviceAccounts) {
    const add = by(`ServiceAccount/${sa.metadata?.name}`)
    for (const s of sa.imagePullSecrets ?? []) if (s.name) add(s.name, 'imagePullSecrets')
    for (const s of sa.secrets ?? []) if (s.name) add(s.name, 'secrets')
  }
  for (const ing of o.ingresses) for (const tls of ing.spec?.tls ?? []) if (tls.secretName) by(`Ingress/${ing.metadata?.name}`)(tls.secretName, `tls for ${(tls.hosts ?? []).join(', ') || 'all hosts'}`)
  return users
}

export interface PodState {
  name: string
  wrapped: boolean
  ready: boolean
  done: boolean
  /** What its wrapper decodes (cloudtaser.io/base64-fields): KV path -> fields; absent when nothing. */
  base64Fields?: Record<string, string[]>
}

const base64FieldsOf = (p: V1Pod): Record<string, string[]> => {
  try {
    const v = JSON.parse(p.metadata?.annotations?.[Annotations.base64Fields] ?? '{}') as unknown
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, string[]>) : {}
  } catch {
    return {}
  }
}

const podState = (p: V1Pod): PodState => ({
  name: p.metadata?.name ?? '',
  wrapped: isMutated(p),
  ...(p.metadata?.annotations?.[Annotations.base64Fields] ? {base64Fields: base64FieldsOf(p)} : {}),
  ready: (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
  done: podDone(p),
})

/** The Pods a workload controls, through the owner chain (Deployment -> ReplicaSet -> Pod, CronJob -> Job -> Pod). Terminating Pods count: they still run. */
export function podsOf(o: NamespaceObjects, kind: string, name: string): PodState[] {
  const owners = new Map<string, {kind: string; uid: string; name: string} | undefined>()
  for (const rs of o.replicaSets) owners.set(rs.metadata?.uid ?? '', controllerOf(rs.metadata))
  for (const j of o.jobs) owners.set(j.metadata?.uid ?? '', controllerOf(j.metadata))
  const belongs = (pod: V1Pod): boolean => {
    let owner = controllerOf(pod.metadata)
    for (let hops = 0; owner && hops < 3; hops++) {
      if (owner.kind === kind && owner.name === name) return true
      owner = owners.get(owner.uid)
    }
    return false
  }
  return o.pods.filter(belongs).map(podState)
}
