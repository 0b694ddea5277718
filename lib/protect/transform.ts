import type {V1EnvFromSource, V1EnvVar, V1PodTemplateSpec} from '@kubernetes/client-node'
import {Annotations, formatEnvMap, formatSecretPaths, INJECT_LABEL, type EnvMapGroup} from '../annotations.js'
import type {MigrationPlan, SecretMapping, SecretReference, Tenant, Workload} from '../plan/types.generated.js'
import {containersOf, podTemplateOf, type LiveWorkload} from '../kube/pod-template.js'

/**
 * Pure: from a plan workload and the live object, what protect would change. No I/O, so the
 * same function drives --dry-run, the interactive preview, the executor and unit tests.
 */
export interface ProtectSettings {
  /** The OpenBao (or broker) URL pods talk to. */
  vaultAddress: string
  ebpf: boolean
}

export interface RemovedReference extends SecretReference {
  secret: string
}

export interface KeptReference {
  secret: string
  container: string
  type: SecretReference['type']
  why: string
}

export interface WorkloadChange {
  /** `protect`: a patch is needed; `unchanged`: the live object already is as desired. */
  action: 'protect' | 'unchanged'
  annotations: Record<string, string>
  removed: RemovedReference[]
  kept: KeptReference[]
  /** Environment variable names the wrapper will deliver. */
  delivered: string[]
  /** The object to PUT (resourceVersion kept, so a concurrent change makes the PUT fail). */
  next: LiveWorkload
  /** References per secret, in plan order, for recording in the plan before patching. */
  references: Record<string, SecretReference[]>
}

const managedAnnotationKeys = Object.values(Annotations) as string[]

export function desiredAnnotations(plan: MigrationPlan, tenant: Tenant, workload: Workload, settings: ProtectSettings): Record<string, string> {
  // Secrets only mounted as files are not fetched: the wrapper cannot deliver files yet.
  const delivered = workload.secrets.filter((s) => Object.keys(s.fields ?? {}).length > 0 || s.envFrom !== undefined)
  const groups: EnvMapGroup[] = delivered.map((s) => ({fields: s.fields ?? {}, allWithPrefix: s.envFrom ? (s.envFrom.prefix ?? '') : undefined}))
  const out: Record<string, string> = {
    [Annotations.inject]: 'true',
    [Annotations.vaultAddress]: settings.vaultAddress,
    [Annotations.vaultRole]: tenant.role ?? tenant.name,
    [Annotations.secretPaths]: formatSecretPaths(delivered.map((s) => s.vaultPath)),
    [Annotations.envMap]: formatEnvMap(groups),
    [Annotations.ebpf]: settings.ebpf ? 'true' : 'false',
  }
  const authMount = plan.openbao?.authMount
  if (authMount && authMount !== 'kubernetes') out[Annotations.vaultAuthPath] = `auth/${authMount}`
  return out
}

const deliveredNames = (workload: Workload): string[] =>
  workload.secrets.flatMap((s) => [...Object.values(s.fields ?? {}), ...(s.envFrom ? [`${s.envFrom.prefix ?? ''}*`] : [])]).sort()

/** Which env entry the wrapper replaces: the plan maps exactly this key to exactly this name. */
function replacesEnv(secrets: Map<string, SecretMapping>, env: V1EnvVar): SecretMapping | undefined {
  const ref = env.valueFrom?.secretKeyRef
  if (!ref?.name) return undefined
  const mapping = secrets.get(ref.name)
  return mapping?.fields?.[ref.key] === env.name ? mapping : undefined
}

function replacesEnvFrom(secrets: Map<string, SecretMapping>, from: V1EnvFromSource): SecretMapping | undefined {
  const name = from.secretRef?.name
  const mapping = name ? secrets.get(name) : undefined
  return mapping?.envFrom && (mapping.envFrom.prefix ?? '') === (from.prefix ?? '') ? mapping : undefined
}

export function computeProtect(
  plan: MigrationPlan,
  tenant: Tenant,
  workload: Workload,
  live: LiveWorkload,
  settings: ProtectSettings,
): WorkloadChange {
  const next = structuredClone(live)
  const template = podTemplateOf(workload.kind, next)
  if (!template) throw new Error(`${workload.kind}/${workload.name} has no pod template`)
  const secrets = new Map(workload.secrets.map((s) => [s.source.name, s]))
  const removed: RemovedReference[] = []
  const kept: KeptReference[] = []

  for (const {container, init} of containersOf(template)) {
    const base = {container: container.name, ...(init ? {init: true} : {})}
    container.env = container.env?.filter((env, index) => {
      const ref = env.valueFrom?.secretKeyRef
      if (!ref?.name || !secrets.has(ref.name)) return true
      if (!replacesEnv(secrets, env)) {
        kept.push({secret: ref.name, container: container.name, type: 'env', why: `${env.name} (key ${ref.key}) is not mapped in the plan`})
        return true
      }
      removed.push({secret: ref.name, ...base, type: 'env', env: env.name, key: ref.key, ...(ref.optional === undefined ? {} : {optional: ref.optional}), index})
      return false
    })
    container.envFrom = container.envFrom?.filter((from, index) => {
      const name = from.secretRef?.name
      if (!name || !secrets.has(name)) return true
      if (!replacesEnvFrom(secrets, from)) {
        kept.push({secret: name, container: container.name, type: 'envFrom', why: 'the plan does not deliver this envFrom'})
        return true
      }
      const optional = from.secretRef?.optional
      removed.push({secret: name, ...base, type: 'envFrom', ...(from.prefix === undefined ? {} : {prefix: from.prefix}), ...(optional === undefined ? {} : {optional}), index})
      return false
    })
    if (container.env?.length === 0) delete container.env
    if (container.envFrom?.length === 0) delete container.envFrom
  }
  for (const volume of template.spec?.volumes ?? []) {
    const names = [volume.secret?.secretName, ...(volume.projected?.sources ?? []).map((s) => s.secret?.name)]
    for (const name of names) {
      if (name && secrets.has(name)) {
        kept.push({secret: name, container: volume.name, type: volume.secret ? 'volume' : 'projected', why: 'the wrapper cannot deliver files yet; the Secret volume stays'})
      }
    }
  }

  const annotations = desiredAnnotations(plan, tenant, workload, settings)
  const meta = (template.metadata ??= {})
  const current = meta.annotations ?? {}
  const annotationsChanged = Object.entries(annotations).some(([k, v]) => current[k] !== v)
  meta.annotations = {...current, ...annotations}
  const labelChanged = meta.labels?.[INJECT_LABEL] !== 'true'
  meta.labels = {...meta.labels, [INJECT_LABEL]: 'true'}

  const references: Record<string, SecretReference[]> = {}
  for (const s of workload.secrets) references[s.source.name] = []
  for (const {secret, ...ref} of removed) references[secret]!.push(ref)

  return {
    action: removed.length > 0 || annotationsChanged || labelChanged ? 'protect' : 'unchanged',
    annotations,
    removed,
    kept,
    delivered: deliveredNames(workload),
    next,
    references,
  }
}

/** Reverses protect: cloudtaser annotations and label off, recorded references back in place. */
export function computeUnprotect(workload: Workload, live: LiveWorkload): {action: 'unprotect' | 'unchanged'; next: LiveWorkload; restored: number} {
  const next = structuredClone(live)
  const template = podTemplateOf(workload.kind, next) as V1PodTemplateSpec
  const meta = (template.metadata ??= {})
  let changed = false
  for (const key of Object.keys(meta.annotations ?? {})) {
    if (managedAnnotationKeys.includes(key)) {
      delete meta.annotations![key]
      changed = true
    }
  }
  if (meta.annotations && Object.keys(meta.annotations).length === 0) delete meta.annotations
  if (meta.labels?.[INJECT_LABEL] !== undefined) {
    delete meta.labels[INJECT_LABEL]
    changed = true
  }

  const slots = containersOf(template)
  const refs = workload.secrets
    .flatMap((s) => (s.references ?? []).map((r) => ({...r, secret: s.source.name})))
    .filter((r) => r.type === 'env' || r.type === 'envFrom')
    .sort((a, b) => (a.index ?? 0) - (b.index ?? 0))
  let restored = 0
  for (const r of refs) {
    const slot = slots.find((s) => s.container.name === r.container && s.init === (r.init ?? false))
    if (!slot) continue
    const c = slot.container
    if (r.type === 'env') {
      const present = c.env?.some((e) => e.name === r.env && e.valueFrom?.secretKeyRef?.name === r.secret)
      if (present) continue
      const entry: V1EnvVar = {name: r.env!, valueFrom: {secretKeyRef: {name: r.secret, key: r.key!, ...(r.optional === undefined ? {} : {optional: r.optional})}}}
      c.env = insertAt(c.env ?? [], r.index, entry)
    } else {
      const present = c.envFrom?.some((e) => e.secretRef?.name === r.secret && (e.prefix ?? '') === (r.prefix ?? ''))
      if (present) continue
      const entry: V1EnvFromSource = {...(r.prefix === undefined ? {} : {prefix: r.prefix}), secretRef: {name: r.secret, ...(r.optional === undefined ? {} : {optional: r.optional})}}
      c.envFrom = insertAt(c.envFrom ?? [], r.index, entry)
    }
    restored++
    changed = true
  }
  return {action: changed ? 'unprotect' : 'unchanged', next, restored}
}

function insertAt<T>(list: T[], index: number | undefined, item: T): T[] {
  const at = index === undefined ? list.length : Math.min(index, list.length)
  return [...list.slice(0, at), item, ...list.slice(at)]
}
