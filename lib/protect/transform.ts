import type {V1EnvFromSource, V1EnvVar, V1PodTemplateSpec, V1Volume, V1VolumeMount} from '@kubernetes/client-node'
import {Annotations, formatEnvMap, formatSecretPaths, INJECT_LABEL, type EnvMapGroup} from '../annotations.js'
import type {FileMount, MigrationPlan, SecretMapping, SecretReference, Tenant, Workload} from '../plan/types.generated.js'
import {containersOf, podTemplateOf, type LiveWorkload} from '../kube/pod-template.js'
import {composedNames, envFromRemains, envRemains, volumeRemains} from './deliverable.js'

/**
 * Pure: from a plan workload and the live object, what protect would change. No I/O, so the
 * same function drives --dry-run, the interactive preview, the executor and unit tests.
 */
export interface ProtectSettings {
  /** The OpenBao (or broker) URL pods talk to. */
  vaultAddress: string
}

export interface RemovedReference extends SecretReference {
  secret: string
}

/** A reference left on the Kubernetes Secret; `why` is recorded in the plan as `remains`. */
export interface KeptReference extends RemovedReference {
  why: string
}

export interface WorkloadChange {
  /**
   * `protect`: a patch is needed; `unchanged`: the live object already is as desired; `skip`:
   * the wrapper could deliver nothing to this workload (see skipReason), so it is left as it is:
   * marking it for injection would only give the webhook a Pod with nothing to inject.
   */
  action: 'protect' | 'unchanged' | 'skip'
  skipReason?: string
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

/** The plan's `fields` value (one name, or a list when one key is read under several names) as a list. */
export const namesOf = (value: string | string[]): string[] => (typeof value === 'string' ? [value] : value)

/** Secrets the wrapper fetches for the environment: those with mapped fields or an envFrom. */
const deliveredSecrets = (workload: Workload): SecretMapping[] => workload.secrets.filter((s) => Object.keys(s.fields ?? {}).length > 0 || s.envFrom !== undefined)

/** The file mounts the wrapper writes instead of a Secret volume, one per mount path. */
const deliveredFiles = (workload: Workload): Array<{secret: SecretMapping; mount: FileMount}> => {
  const seen = new Set<string>()
  return workload.secrets.flatMap((secret) =>
    (secret.files ?? []).filter((f) => f.deliverable && !seen.has(f.mountPath) && seen.add(f.mountPath)).map((mount) => ({secret, mount})),
  )
}

/** The `cloudtaser.io/file-map` annotation (docs/wrapper.md, Files): KV path, mount path, items and modes. */
export function fileMap(workload: Workload): string | undefined {
  const entries = deliveredFiles(workload).map(({secret, mount}) => ({
    path: secret.vaultPath,
    mountPath: mount.mountPath,
    ...(mount.items ? {items: mount.items.map((i) => ({field: i.key, file: i.path, ...(i.mode === undefined ? {} : {mode: i.mode})}))} : {}),
    ...(mount.defaultMode === undefined ? {} : {defaultMode: mount.defaultMode}),
  }))
  return entries.length > 0 ? JSON.stringify(entries) : undefined
}

/**
 * The `cloudtaser.io/base64-fields` annotation: per KV path this workload reads (env or files),
 * the fields `target migrate` recorded as binary, which the wrapper must decode.
 */
export function base64Fields(tenant: Tenant, workload: Workload): string | undefined {
  const out: Record<string, string[]> = {}
  for (const s of workload.secrets) {
    const record = tenant.secrets?.find((r) => r.name === s.source.name && r.vaultPath === s.vaultPath)
    if (!record?.base64Fields?.length) continue
    out[s.vaultPath] = [...new Set([...(out[s.vaultPath] ?? []), ...record.base64Fields])].sort()
  }
  const paths = Object.keys(out).sort()
  return paths.length > 0 ? JSON.stringify(Object.fromEntries(paths.map((p) => [p, out[p]]))) : undefined
}

/**
 * Init containers whose Secret references protect moves to the wrapper: the webhook wraps exactly
 * these (app containers are always wrapped). Init containers that read no secret run untouched.
 */
export const wrappedInitContainers = (workload: Workload): string[] =>
  [
    ...new Set([
      ...workload.secrets.flatMap((s) => (s.references ?? []).filter((r) => r.init && !r.remains && (r.type === 'env' || r.type === 'envFrom')).map((r) => r.container)),
      // An init container mounting a Secret volume the wrapper replaces needs the wrapper to write it.
      ...workload.secrets.flatMap((s) => (s.files ?? []).filter((f) => f.init && f.deliverable).map((f) => f.container)),
    ]),
  ].sort()

export function desiredAnnotations(plan: MigrationPlan, tenant: Tenant, workload: Workload, settings: ProtectSettings): Record<string, string> {
  const delivered = deliveredSecrets(workload)
  const groups: EnvMapGroup[] = delivered.map((s) => ({
    fields: Object.fromEntries(Object.entries(s.fields ?? {}).map(([k, v]) => [k, namesOf(v)])),
    allWithPrefix: s.envFrom ? (s.envFrom.prefix ?? '') : undefined,
  }))
  const out: Record<string, string> = {
    [Annotations.inject]: 'true',
    [Annotations.vaultAddress]: settings.vaultAddress,
    [Annotations.vaultRole]: tenant.role ?? tenant.name,
    ...(delivered.length > 0 ? {[Annotations.secretPaths]: formatSecretPaths(delivered.map((s) => s.vaultPath)), [Annotations.envMap]: formatEnvMap(groups)} : {}),
    ...kernelAnnotations(workload.kernelProtection ?? 'required'),
  }
  const files = fileMap(workload)
  if (files) out[Annotations.fileMap] = files
  const binary = base64Fields(tenant, workload)
  if (binary) out[Annotations.base64Fields] = binary
  const init = wrappedInitContainers(workload)
  if (init.length > 0) out[Annotations.initContainers] = init.join(',')
  const authMount = plan.openbao?.authMount
  if (authMount && authMount !== 'kubernetes') out[Annotations.vaultAuthPath] = `auth/${authMount}`
  return out
}

/** required: register, refuse to start unprotected; preferred: register where an agent is, else start and say so. */
const kernelAnnotations = (k: NonNullable<Workload['kernelProtection']>): Record<string, string> =>
  k === 'off' ? {[Annotations.ebpf]: 'false'} : {[Annotations.ebpf]: 'true', [Annotations.ebpfFail]: k === 'required' ? 'closed' : 'open'}

const deliveredNames = (workload: Workload): string[] =>
  workload.secrets.flatMap((s) => [...Object.values(s.fields ?? {}).flatMap(namesOf), ...(s.envFrom ? [`${s.envFrom.prefix ?? ''}*`] : [])]).sort()

/** Which env entry the wrapper replaces: the plan maps exactly this key to this name. */
function replacesEnv(secrets: Map<string, SecretMapping>, env: V1EnvVar): SecretMapping | undefined {
  const ref = env.valueFrom?.secretKeyRef
  if (!ref?.name) return undefined
  const mapping = secrets.get(ref.name)
  const names = mapping?.fields?.[ref.key]
  return names !== undefined && namesOf(names).includes(env.name) ? mapping : undefined
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

  const wrappedInit = new Set(wrappedInitContainers(workload))
  for (const {container, init} of containersOf(template)) {
    const base = {container: container.name, ...(init ? {init: true} : {})}
    const composed = composedNames(container)
    // An init container the plan does not have the webhook wrap keeps all its references.
    const notWrapped = init && !wrappedInit.has(container.name) ? 'the plan does not have this init container wrapped' : undefined
    container.env = container.env?.filter((env, index) => {
      const ref = env.valueFrom?.secretKeyRef
      if (!ref?.name || !secrets.has(ref.name)) return true
      const entry: RemovedReference = {secret: ref.name, ...base, type: 'env', env: env.name, key: ref.key, ...(ref.optional === undefined ? {} : {optional: ref.optional}), index}
      const why = notWrapped ?? envRemains(container, env.name, composed) ?? (replacesEnv(secrets, env) ? undefined : `${env.name} (key ${ref.key}) is not mapped in the plan`)
      if (why) {
        kept.push({...entry, why})
        return true
      }
      removed.push(entry)
      return false
    })
    container.envFrom = container.envFrom?.filter((from, index) => {
      const name = from.secretRef?.name
      if (!name || !secrets.has(name)) return true
      const optional = from.secretRef?.optional
      const entry: RemovedReference = {secret: name, ...base, type: 'envFrom', ...(from.prefix === undefined ? {} : {prefix: from.prefix}), ...(optional === undefined ? {} : {optional}), index}
      const why = notWrapped ?? envFromRemains(container, from.prefix, composed) ?? (replacesEnvFrom(secrets, from) ? undefined : 'the plan does not deliver this envFrom')
      if (why) {
        kept.push({...entry, why})
        return true
      }
      removed.push(entry)
      return false
    })
    if (container.env?.length === 0) delete container.env
    if (container.envFrom?.length === 0) delete container.envFrom
  }
  const slots = containersOf(template)
  const deliverableVolumes = new Set(workload.secrets.flatMap((s) => (s.files ?? []).filter((f) => f.deliverable).map((f) => f.volume)))
  const removedVolumes = new Set<string>()
  template.spec?.volumes?.forEach((volume, index) => {
    const consumer = slots.find((s) => (s.container.volumeMounts ?? []).some((m) => m.name === volume.name))
    const base = {container: consumer?.container.name ?? slots[0]?.container.name ?? 'unknown', ...(consumer?.init ? {init: true} : {})}
    const optional = (o: boolean | undefined) => (o === undefined ? {} : {optional: o})
    const name = volume.secret?.secretName
    if (name && secrets.has(name)) {
      const entry: RemovedReference = {secret: name, ...base, type: 'volume', volume: volume.name, ...optional(volume.secret!.optional), index}
      const why = volumeRemains(template, volume.name, 'volume') ?? (deliverableVolumes.has(volume.name) ? undefined : 'the plan does not deliver this volume as files')
      if (why) kept.push({...entry, why})
      else {
        removed.push(entry)
        removedVolumes.add(volume.name)
      }
    }
    volume.projected?.sources?.forEach((s, i) => {
      if (s.secret?.name && secrets.has(s.secret.name)) kept.push({secret: s.secret.name, ...base, type: 'projected', volume: volume.name, ...optional(s.secret.optional), index: i, why: volumeRemains(template, volume.name, 'projected')!})
    })
  })
  // The wrapper writes these files into a memory-backed directory at the same mount path.
  if (removedVolumes.size > 0) {
    template.spec!.volumes = template.spec!.volumes!.filter((v) => !removedVolumes.has(v.name))
    if (template.spec!.volumes.length === 0) delete template.spec!.volumes
    for (const {container} of slots) {
      container.volumeMounts = container.volumeMounts?.filter((m) => !removedVolumes.has(m.name))
      if (container.volumeMounts?.length === 0) delete container.volumeMounts
    }
  }

  const references: Record<string, SecretReference[]> = {}
  for (const s of workload.secrets) references[s.source.name] = []
  for (const {secret, ...ref} of removed) references[secret]!.push(ref)
  for (const {secret, why, ...ref} of kept) references[secret]!.push({...ref, remains: why})

  const annotations = desiredAnnotations(plan, tenant, workload, settings)
  if (removed.length === 0 && deliveredSecrets(workload).length === 0 && deliveredFiles(workload).length === 0) {
    return {action: 'skip', skipReason: 'nothing the wrapper can deliver: every reference stays on the Kubernetes Secret (see references[].remains)', annotations, removed, kept, delivered: [], next: live, references}
  }
  const meta = (template.metadata ??= {})
  const current = meta.annotations ?? {}
  const annotationsChanged = Object.entries(annotations).some(([k, v]) => current[k] !== v)
  meta.annotations = {...current, ...annotations}
  const labelChanged = meta.labels?.[INJECT_LABEL] !== 'true'
  meta.labels = {...meta.labels, [INJECT_LABEL]: 'true'}

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
  let restored = 0
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
  restored += restoreVolumes(workload, template, slots)
  if (restored > 0) changed = true
  const refs = workload.secrets
    .flatMap((s) => (s.references ?? []).map((r) => ({...r, secret: s.source.name})))
    .filter((r) => (r.type === 'env' || r.type === 'envFrom') && r.remains === undefined)
    .sort((a, b) => (a.index ?? 0) - (b.index ?? 0))
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

/** Secret volumes protect replaced with files, and their mounts, back at their recorded positions. */
function restoreVolumes(workload: Workload, template: V1PodTemplateSpec, slots: ReturnType<typeof containersOf>): number {
  const spec = template.spec!
  let restored = 0
  const refs = workload.secrets.flatMap((s) => (s.references ?? []).filter((r) => r.type === 'volume' && !r.remains).map((r) => ({r, s}))).sort((a, b) => (a.r.index ?? 0) - (b.r.index ?? 0))
  for (const {r, s} of refs) {
    if ((spec.volumes ?? []).some((v) => v.name === r.volume)) continue
    const mounts = (s.files ?? []).filter((f) => f.volume === r.volume)
    const first = mounts[0]
    const volume: V1Volume = {
      name: r.volume!,
      secret: {
        secretName: s.source.name,
        ...(first?.items ? {items: first.items.map((i) => ({key: i.key, path: i.path, ...(i.mode === undefined ? {} : {mode: i.mode})}))} : {}),
        ...(first?.defaultMode === undefined ? {} : {defaultMode: first.defaultMode}),
        ...(r.optional === undefined ? {} : {optional: r.optional}),
      },
    }
    spec.volumes = insertAt(spec.volumes ?? [], r.index, volume)
    for (const f of [...mounts].sort((a, b) => (a.mountIndex ?? 0) - (b.mountIndex ?? 0))) {
      const slot = slots.find((x) => x.container.name === f.container && x.init === (f.init ?? false))
      if (!slot) continue
      const mount: V1VolumeMount = {name: r.volume!, mountPath: f.mountPath, ...(f.readOnly === undefined ? {} : {readOnly: f.readOnly})}
      slot.container.volumeMounts = insertAt(slot.container.volumeMounts ?? [], f.mountIndex, mount)
    }
    restored++
  }
  return restored
}

function insertAt<T>(list: T[], index: number | undefined, item: T): T[] {
  const at = index === undefined ? list.length : Math.min(index, list.length)
  return [...list.slice(0, at), item, ...list.slice(at)]
}
