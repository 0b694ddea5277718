import {createHash} from 'node:crypto'
import type {V1PodTemplateSpec} from '@kubernetes/client-node'
import {Annotations, INJECT_LABEL} from '../annotations.js'
import {containersOf, podTemplateOf, type LiveWorkload} from '../kube/pod-template.js'
import type {
  ContainerRef,
  FileMount,
  MigrationPlan,
  ObservedWorkload,
  SecretMapping,
  SecretReference,
  Tenant,
  Workload,
  WorkloadKind,
} from '../plan/types.generated.js'

/**
 * Pure: what the cluster looks like (as listed by collect.ts) -> a plan. Same input, same bytes:
 * everything is sorted, and the only clock value is metadata.createdAt, passed in.
 */
export const SYSTEM_NAMESPACES = ['kube-system', 'kube-public', 'kube-node-lease', 'cloudtaser-system']
export const DEFAULT_PATH_TEMPLATE = '{mount}/data/{cluster}/{namespace}/{secret}'
export const VAULT_INJECT = 'vault.hashicorp.com/agent-inject'

export interface Observed {
  clusterName: string
  fingerprint: string
  server?: string
  namespaces: string[]
  workloads: Array<{kind: WorkloadKind; object: LiveWorkload}>
  jobs: LiveWorkload[]
  pods: LiveWorkload[]
  /** namespace/name of every Secret, from a metadata-only list. */
  secrets: Set<string>
}

export interface DiscoverOptions {
  mount: string
  pathTemplate: string
  authMount?: string
  vaultAddress?: string
  createdAt: string
  createdBy: string
  toolVersion: string
  git?: MigrationPlan['metadata']['git']
}

export interface DiscoverReport {
  plan: MigrationPlan
  alreadyInjected: Array<{kind: string; namespace: string; name: string}>
  imagePullSecretsIgnored: number
  /** Secret references the wrapper cannot deliver yet (files). */
  filesNotDeliverable: number
  missingSecrets: string[]
}

export function renderPath(template: string, vars: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (m, k: string) => vars[k] ?? m)
}

/**
 * `cloudtaser-<cluster>-<namespace>` as a DNS label (no dots, at most 63 characters), so the same
 * name works as an OpenBao policy, a role and, if ever needed, a Kubernetes object name. Longer
 * names keep their start and end with a hash of the full name, so two long names never collide.
 */
export function tenantIdentity(cluster: string, namespace: string): string {
  const name = `cloudtaser-${cluster}-${namespace}`.toLowerCase().replace(/[^a-z0-9-]+/g, '-')
  if (name.length <= 63) return name
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 10)
  return `${name.slice(0, 52).replace(/-+$/, '')}-${hash}`
}

/**
 * Code-point order, not localeCompare: the plan must sort the same on every machine whatever its
 * locale or ICU data, and it is several times faster on 10,000 workloads.
 */
export const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)
const byName = <T extends {name: string}>(a: T, b: T): number => compareText(a.name, b.name)
const KIND_RANK: Record<string, number> = {Deployment: 0, StatefulSet: 1, DaemonSet: 2, CronJob: 3}
export const byKindName = (a: {kind: string; name: string}, b: {kind: string; name: string}): number => (KIND_RANK[a.kind] ?? 9) - (KIND_RANK[b.kind] ?? 9) || compareText(a.name, b.name)

interface SecretUse {
  fields: Record<string, string>
  envFrom?: {prefix?: string}
  files: FileMount[]
  references: SecretReference[]
  optionalAll: boolean
}

/** Every way a pod template reads Secrets, grouped by Secret name. */
export function secretUses(template: V1PodTemplateSpec): {uses: Map<string, SecretUse>; pullSecrets: number} {
  const uses = new Map<string, SecretUse>()
  const use = (name: string): SecretUse => {
    let u = uses.get(name)
    if (!u) uses.set(name, (u = {fields: {}, files: [], references: [], optionalAll: true}))
    return u
  }
  const slots = containersOf(template)
  for (const {container, init} of slots) {
    const base = {container: container.name, ...(init ? {init: true} : {})}
    ;(container.env ?? []).forEach((env, index) => {
      const ref = env.valueFrom?.secretKeyRef
      if (!ref?.name) return
      const u = use(ref.name)
      // One field read under two names keeps the first; the second stays a Secret reference.
      u.fields[ref.key] ??= env.name
      u.optionalAll &&= ref.optional === true
      u.references.push({...base, type: 'env', env: env.name, key: ref.key, ...(ref.optional === undefined ? {} : {optional: ref.optional}), index})
    })
    ;(container.envFrom ?? []).forEach((from, index) => {
      const name = from.secretRef?.name
      if (!name) return
      const u = use(name)
      u.envFrom = from.prefix ? {prefix: from.prefix} : {}
      u.optionalAll &&= from.secretRef?.optional === true
      const optional = from.secretRef?.optional
      u.references.push({...base, type: 'envFrom', ...(from.prefix === undefined ? {} : {prefix: from.prefix}), ...(optional === undefined ? {} : {optional}), index})
    })
  }
  ;(template.spec?.volumes ?? []).forEach((volume, index) => {
    const sources: Array<{name?: string; items?: Array<{key: string; path: string}>; optional?: boolean; type: 'volume' | 'projected'}> = []
    if (volume.secret) sources.push({name: volume.secret.secretName, items: volume.secret.items, optional: volume.secret.optional, type: 'volume'})
    for (const s of volume.projected?.sources ?? []) {
      if (s.secret) sources.push({name: s.secret.name, items: s.secret.items, optional: s.secret.optional, type: 'projected'})
    }
    for (const s of sources) {
      if (!s.name) continue
      const u = use(s.name)
      u.optionalAll &&= s.optional === true
      const mounts = slots.flatMap(({container}) => (container.volumeMounts ?? []).filter((m) => m.name === volume.name).map((m) => ({container: container.name, mountPath: m.mountPath})))
      for (const m of mounts) {
        u.files.push({container: m.container, volume: volume.name, mountPath: m.mountPath, ...(s.items ? {items: s.items.map((i) => ({key: i.key, path: i.path}))} : {}), deliverable: false})
      }
      u.references.push({container: mounts[0]?.container ?? slots[0]?.container.name ?? 'unknown', type: s.type, volume: volume.name, ...(s.optional === undefined ? {} : {optional: s.optional}), index})
    }
  })
  return {uses, pullSecrets: (template.spec?.imagePullSecrets ?? []).length}
}

const templateAnnotations = (t: V1PodTemplateSpec | undefined): Record<string, string> => t?.metadata?.annotations ?? {}

/** renderPath with the template parsed once: it runs for every Secret of every workload. */
function pathRenderer(template: string): (vars: Record<string, string>) => string {
  const parts = template.split(/\{(\w+)\}/)
  return (vars) => {
    let out = parts[0]!
    for (let i = 1; i < parts.length; i += 2) out += `${vars[parts[i]!] ?? `{${parts[i]}}`}${parts[i + 1]}`
    return out
  }
}

/** What the plan needs of one namespace, collected while its objects are listed. */
interface NamespaceFindings {
  workloads: Array<{workload: Workload; optional: boolean[]}>
  alreadyInjected: DiscoverReport['alreadyInjected']
  vaultInjected: ObservedWorkload[]
  pullSecrets: number
  files: number
}

export type PlanShape = Pick<DiscoverOptions, 'mount' | 'pathTemplate'> & {clusterName: string}
export type ObservedCluster = Pick<Observed, 'fingerprint' | 'server' | 'namespaces' | 'secrets'>

/**
 * buildPlan, one listed object at a time: collect.ts hands each object over as its page
 * arrives, so the listed objects are dropped at once and the transform runs while the apiserver
 * prepares the next page. What needs every object (the namespaces in scope, which Secrets
 * exist, the order) is settled in finish().
 */
export class PlanBuilder {
  private readonly found = new Map<string, NamespaceFindings>()
  private readonly notProtectable: Array<{scope: string; entry: ObservedWorkload}> = []
  private readonly vaultPath: (vars: Record<string, string>) => string

  constructor(private readonly shape: PlanShape) {
    this.vaultPath = pathRenderer(shape.pathTemplate)
  }

  private findings(namespace: string): NamespaceFindings {
    let f = this.found.get(namespace)
    if (!f) this.found.set(namespace, (f = {workloads: [], alreadyInjected: [], vaultInjected: [], pullSecrets: 0, files: 0}))
    return f
  }

  workload(kind: WorkloadKind, object: LiveWorkload): void {
    const namespace = object.metadata?.namespace ?? 'default'
    const name = object.metadata?.name ?? ''
    const template = podTemplateOf(kind, object)
    if (!template) return
    const annotations = templateAnnotations(template)
    if (annotations[Annotations.inject] === 'true' || template.metadata?.labels?.[INJECT_LABEL] === 'true') {
      this.findings(namespace).alreadyInjected.push({kind, namespace, name})
      return
    }
    const {uses, pullSecrets} = secretUses(template)
    const found = this.findings(namespace)
    found.pullSecrets += pullSecrets
    if (annotations[VAULT_INJECT] === 'true') {
      found.vaultInjected.push({kind, namespace, name, secrets: [...uses.keys()].sort(), reason: 'uses the Vault agent injector (vault.hashicorp.com/agent-inject)'})
      return
    }
    if (uses.size === 0) return
    const optional: boolean[] = []
    const secrets: SecretMapping[] = [...uses.entries()]
      .sort(([a], [b]) => compareText(a, b))
      .map(([secret, u]) => {
        found.files += u.files.length
        optional.push(u.optionalAll)
        // source gets `missing` and `optional` in finish(), once the Secrets are listed.
        const mapping: SecretMapping = {source: {name: secret}, vaultPath: this.vaultPath({mount: this.shape.mount, cluster: this.shape.clusterName, namespace, secret})}
        const fields = Object.fromEntries(Object.entries(u.fields).sort(([a], [b]) => compareText(a, b)))
        if (Object.keys(fields).length > 0) mapping.fields = fields
        if (u.envFrom) mapping.envFrom = u.envFrom
        if (u.files.length > 0) mapping.files = u.files
        mapping.references = u.references
        return mapping
      })
    const containers: ContainerRef[] = containersOf(template).map(({container, init}) => ({name: container.name, ...(init ? {init: true} : {}), ...(container.image ? {image: container.image} : {})}))
    const spec = object.spec as {replicas?: number} | undefined
    const workload: Workload = {
      kind,
      name,
      serviceAccount: template.spec?.serviceAccountName ?? 'default',
      ...(kind === 'Deployment' || kind === 'StatefulSet' ? {replicas: spec?.replicas ?? 1} : {}),
      containers,
      secrets,
      status: {state: 'pending'},
    }
    found.workloads.push({workload, optional})
  }

  job(job: LiveWorkload): void {
    const owner = job.metadata as {ownerReferences?: Array<{kind: string}>; namespace?: string; name?: string} | undefined
    if (owner?.ownerReferences?.some((o) => o.kind === 'CronJob')) return
    const {uses} = secretUses((job.spec as {template?: V1PodTemplateSpec} | undefined)?.template ?? {})
    if (uses.size > 0) {
      this.notProtectable.push({scope: owner?.namespace ?? '', entry: {kind: 'Job', namespace: owner!.namespace!, name: owner!.name!, secrets: [...uses.keys()].sort(), reason: 'a Job runs once; protect cannot roll it (protect the CronJob that creates it, or re-create it)'}})
    }
  }

  pod(pod: LiveWorkload): void {
    const meta = pod.metadata as {ownerReferences?: unknown[]; namespace?: string; name?: string} | undefined
    if ((meta?.ownerReferences?.length ?? 0) > 0) return
    const {uses} = secretUses({spec: pod.spec as V1PodTemplateSpec['spec']})
    if (uses.size > 0) {
      this.notProtectable.push({scope: meta?.namespace ?? '', entry: {kind: 'Pod', namespace: meta!.namespace!, name: meta!.name!, secrets: [...uses.keys()].sort(), reason: 'a bare Pod has no controller to roll; move it into a Deployment'}})
    }
  }

  finish(observed: ObservedCluster, options: DiscoverOptions): DiscoverReport {
    const cluster = this.shape.clusterName
    const inScope = new Set(observed.namespaces)
    const tenants: Tenant[] = []
    const alreadyInjected: DiscoverReport['alreadyInjected'] = []
    const vaultInjected: ObservedWorkload[] = []
    const missing = new Set<string>()
    let pullSecrets = 0
    let files = 0
    for (const [namespace, found] of this.found) {
      if (!inScope.has(namespace)) continue
      alreadyInjected.push(...found.alreadyInjected)
      vaultInjected.push(...found.vaultInjected)
      pullSecrets += found.pullSecrets
      files += found.files
      if (found.workloads.length === 0) continue
      for (const {workload, optional} of found.workloads) {
        workload.secrets.forEach((mapping, i) => {
          const secret = mapping.source.name
          const exists = observed.secrets.has(`${namespace}/${secret}`)
          if (!exists) missing.add(`${namespace}/${secret}`)
          if (!exists || optional[i]) mapping.source = {name: secret, ...(exists ? {} : {missing: true}), ...(optional[i] ? {optional: true} : {})}
        })
      }
      const id = tenantIdentity(cluster, namespace)
      tenants.push({name: namespace, namespace, policy: id, role: id, workloads: found.workloads.map((w) => w.workload).sort(byKindName)})
    }
    const notProtectable = this.notProtectable.filter((n) => inScope.has(n.scope)).map((n) => n.entry)
    const sortObserved = (a: ObservedWorkload, b: ObservedWorkload): number => compareText(a.namespace, b.namespace) || compareText(a.kind, b.kind) || byName(a, b)

    const plan: MigrationPlan = {
      apiVersion: 'cloudtaser.io/v1',
      kind: 'MigrationPlan',
      metadata: {
        name: cluster,
        cluster: {name: cluster, fingerprint: observed.fingerprint, ...(observed.server ? {server: observed.server} : {})},
        createdAt: options.createdAt,
        createdBy: options.createdBy,
        toolVersion: options.toolVersion,
        ...(options.git ? {git: options.git} : {}),
      },
      openbao: {...(options.vaultAddress ? {address: options.vaultAddress} : {}), kvMount: options.mount, authMount: options.authMount ?? 'kubernetes'},
      tenants: tenants.sort((a, b) => compareText(a.namespace, b.namespace)),
      ...(notProtectable.length ? {notProtectable: notProtectable.sort(sortObserved)} : {}),
      ...(vaultInjected.length ? {vaultInjected: vaultInjected.sort(sortObserved)} : {}),
    }
    return {
      plan,
      alreadyInjected: alreadyInjected.sort((a, b) => compareText(a.namespace, b.namespace) || compareText(a.name, b.name)),
      imagePullSecretsIgnored: pullSecrets,
      filesNotDeliverable: files,
      missingSecrets: [...missing].sort(),
    }
  }
}

/** Pure: the whole observation at once (tests, and the shape of what PlanBuilder does). */
export function buildPlan(observed: Observed, options: DiscoverOptions): DiscoverReport {
  const builder = new PlanBuilder({clusterName: observed.clusterName, mount: options.mount, pathTemplate: options.pathTemplate})
  for (const {kind, object} of observed.workloads) builder.workload(kind, object)
  for (const job of observed.jobs) builder.job(job)
  for (const pod of observed.pods) builder.pod(pod)
  return builder.finish(observed, options)
}

/** Cluster names become path segments and policy names: lower-case DNS form. */
export function clusterNameFrom(raw: string): string {
  const name = raw
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
  return name.slice(0, 63).replace(/[-.]+$/, '') || 'cluster'
}
