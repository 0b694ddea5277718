import {createHash} from 'node:crypto'
import type {V1Container, V1PodTemplateSpec, V1Volume} from '@kubernetes/client-node'
import {Annotations, INJECT_LABEL} from '../annotations.js'
import {containersOf, podTemplateOf, type LiveWorkload} from '../kube/pod-template.js'
import {composedNames, envFromRemains, envRemains, expandedSecretNames, volumeRemains} from '../protect/deliverable.js'
import {s3ProxyRequest} from '../s3-proxy-annotations.js'
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
  /** namespace/name -> type of every Secret in scope, from Table lists (no value, no annotation). */
  secrets: Map<string, string>
  /** Each node's eBPF agent verdict label (see kernelProtectionDefault). */
  nodeKernelModes?: Array<string | undefined> | 'forbidden'
}

export type KernelProtection = NonNullable<Workload['kernelProtection']>

/**
 * What a workload asks of the kernel when nobody said: `required` only where every node's agent
 * enforces (so requiring costs no schedulability), else `preferred`, with the reason for the
 * summary. Reviewers see the value on each workload and may raise it.
 */
export function kernelProtectionDefault(modes: Observed['nodeKernelModes']): {value: KernelProtection; why: string} {
  if (modes === undefined || modes === 'forbidden') return {value: 'preferred', why: 'cannot list nodes to read what their eBPF agents report'}
  if (modes.length === 0) return {value: 'preferred', why: 'the cluster has no nodes'}
  const enforcing = modes.filter((m) => m === 'enforce').length
  if (enforcing === modes.length) return {value: 'required', why: `every node (${modes.length}) enforces`}
  const unlabelled = modes.filter((m) => m === undefined).length
  if (unlabelled === modes.length) return {value: 'preferred', why: 'no node has a cloudtaser eBPF agent (install it, then `target check`)'}
  return {value: 'preferred', why: `${enforcing} of ${modes.length} node(s) enforce (the others: ${[...new Set(modes.map((m) => m ?? 'no agent'))].filter((m) => m !== 'enforce').join(', ')})`}
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
  /** Written on every workload; default from the nodes (kernelProtectionDefault). */
  kernelProtection?: KernelProtection
}

export interface DiscoverReport {
  plan: MigrationPlan
  alreadyInjected: Array<{kind: string; namespace: string; name: string}>
  imagePullSecretsIgnored: number
  /** Secret references the wrapper cannot deliver yet (files). */
  filesNotDeliverable: number
  missingSecrets: string[]
  /** Workloads in the plan. */
  workloads: number
  /** Distinct Secrets (namespace and name) the plan's workloads read. */
  secrets: number
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
  /** field -> every name it is read under, in the order found. */
  fields: Record<string, string[]>
  envFrom?: {prefix?: string}
  files: FileMount[]
  references: SecretReference[]
  optionalAll: boolean
}

/**
 * Every way a pod template reads Secrets, grouped by Secret name. Runs once per listed object
 * while discover lists (10,000 times on a large cluster, mostly before the JIT has warmed up),
 * hence plain loops and objects built key by key, in the key order the plan is written in.
 */
export function secretUses(template: V1PodTemplateSpec): {uses: Map<string, SecretUse>; pullSecrets: number} {
  const uses = new Map<string, SecretUse>()
  const spec = template.spec
  for (const container of spec?.initContainers ?? []) containerUses(uses, container, true)
  for (const container of spec?.containers ?? []) containerUses(uses, container, false)
  const volumes = spec?.volumes
  if (volumes) volumes.forEach((volume, index) => volumeUses(uses, template, volume, index))
  return {uses, pullSecrets: (spec?.imagePullSecrets ?? []).length}
}

function use(uses: Map<string, SecretUse>, name: string): SecretUse {
  let u = uses.get(name)
  if (!u) uses.set(name, (u = {fields: {}, files: [], references: [], optionalAll: true}))
  return u
}

function reference(container: string, init: boolean, type: SecretReference['type']): SecretReference {
  const r = {container} as SecretReference
  if (init) r.init = true
  r.type = type
  return r
}

function containerUses(uses: Map<string, SecretUse>, container: V1Container, init: boolean): void {
  const env = container.env
  const composed = env || container.envFrom ? composedNames(container) : undefined
  if (env) {
    for (let index = 0; index < env.length; index++) {
      const e = env[index]!
      const ref = e.valueFrom?.secretKeyRef
      if (!ref?.name) continue
      const u = use(uses, ref.name)
      const remains = envRemains(container, e.name, composed)
      // Every name a field is read under is delivered (two env entries may read one key).
      if (!remains) {
        const names = (u.fields[ref.key] ??= [])
        if (!names.includes(e.name)) names.push(e.name)
      }
      u.optionalAll &&= ref.optional === true
      const r = reference(container.name, init, 'env')
      r.env = e.name
      r.key = ref.key
      if (ref.optional !== undefined) r.optional = ref.optional
      r.index = index
      if (remains) r.remains = remains
      u.references.push(r)
    }
  }
  const envFrom = container.envFrom
  if (envFrom) {
    for (let index = 0; index < envFrom.length; index++) {
      const from = envFrom[index]!
      const name = from.secretRef?.name
      if (!name) continue
      const u = use(uses, name)
      const remains = envFromRemains(container, from.prefix, composed)
      if (!remains) u.envFrom = from.prefix ? {prefix: from.prefix} : {}
      u.optionalAll &&= from.secretRef?.optional === true
      const optional = from.secretRef?.optional
      const r = reference(container.name, init, 'envFrom')
      if (from.prefix !== undefined) r.prefix = from.prefix
      if (optional !== undefined) r.optional = optional
      r.index = index
      if (remains) r.remains = remains
      u.references.push(r)
    }
  }
}

function volumeUses(uses: Map<string, SecretUse>, template: V1PodTemplateSpec, volume: V1Volume, index: number): void {
  // `index`: the volume's position for a secret volume, the source's position in `sources` for a projected one.
  const sources: Array<{name?: string; items?: Array<{key: string; path: string; mode?: number}>; optional?: boolean; type: 'volume' | 'projected'; index: number; defaultMode?: number}> = []
  if (volume.secret) sources.push({name: volume.secret.secretName, items: volume.secret.items, optional: volume.secret.optional, type: 'volume', index, defaultMode: volume.secret.defaultMode})
  volume.projected?.sources?.forEach((s, i) => {
    if (s.secret) sources.push({name: s.secret.name, items: s.secret.items, optional: s.secret.optional, type: 'projected', index: i})
  })
  const slots = containersOf(template)
  for (const s of sources) {
    if (!s.name) continue
    const u = use(uses, s.name)
    u.optionalAll &&= s.optional === true
    const remains = volumeRemains(template, volume.name, s.type)
    const mounts = slots.flatMap(({container, init}) =>
      (container.volumeMounts ?? []).flatMap((m, mountIndex) => (m.name === volume.name ? [{container: container.name, init, mountPath: m.mountPath, readOnly: m.readOnly, mountIndex}] : [])),
    )
    for (const m of mounts) {
      const f = {container: m.container} as FileMount
      if (m.init) f.init = true
      f.volume = volume.name
      f.mountPath = m.mountPath
      if (m.readOnly !== undefined) f.readOnly = m.readOnly
      f.mountIndex = m.mountIndex
      if (s.defaultMode !== undefined) f.defaultMode = s.defaultMode
      if (s.items) f.items = s.items.map((i) => (i.mode === undefined ? {key: i.key, path: i.path} : {key: i.key, path: i.path, mode: i.mode}))
      f.deliverable = remains === undefined
      u.files.push(f)
    }
    const first = mounts[0] ?? {container: slots[0]?.container.name ?? 'unknown', init: slots[0]?.init ?? false}
    const r = reference(first.container, first.init, s.type)
    r.volume = volume.name
    if (s.optional !== undefined) r.optional = s.optional
    r.index = s.index
    if (remains) r.remains = remains
    u.references.push(r)
  }
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
  /** In the order found. */
  workloads: Workload[]
  /** Names of the Secrets those workloads read. */
  read: Set<string>
  alreadyInjected: DiscoverReport['alreadyInjected']
  vaultInjected: ObservedWorkload[]
  missing: Set<string>
  pullSecrets: number
  files: number
}

export type PlanShape = Pick<DiscoverOptions, 'mount' | 'pathTemplate'> & {clusterName: string}
export type ObservedCluster = Pick<Observed, 'fingerprint' | 'server' | 'namespaces' | 'secrets' | 'nodeKernelModes'>

/**
 * buildPlan, one listed object at a time: collect.ts lists the Secret names first, then hands
 * each object over as its page arrives, so the listed objects are dropped at once and the
 * transform runs while the apiserver prepares the next page. Each workload is final when built;
 * what needs every object (the namespaces in scope, the order) is settled in finish().
 */
export class PlanBuilder {
  private readonly found = new Map<string, NamespaceFindings>()
  private readonly notProtectable: Array<{scope: string; entry: ObservedWorkload}> = []
  private readonly vaultPath: (vars: Record<string, string>) => string
  private secrets: Map<string, string> | undefined

  constructor(private readonly shape: PlanShape) {
    this.vaultPath = pathRenderer(shape.pathTemplate)
  }

  /** namespace/name of every Secret: needed before the first workload, to flag missing ones. */
  secretsListed(secrets: Map<string, string>): void {
    this.secrets = secrets
  }

  private findings(namespace: string): NamespaceFindings {
    let f = this.found.get(namespace)
    if (!f) this.found.set(namespace, (f = {workloads: [], read: new Set(), alreadyInjected: [], vaultInjected: [], missing: new Set(), pullSecrets: 0, files: 0}))
    return f
  }

  workload(kind: WorkloadKind, object: LiveWorkload): void {
    if (!this.secrets) throw new Error('PlanBuilder: secretsListed() must come before the first workload')
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
    const secrets: SecretMapping[] = []
    const names = [...uses.keys()]
    if (names.length > 1) names.sort(compareText)
    for (const secret of names) {
      const u = uses.get(secret)!
      found.files += u.files.filter((f) => !f.deliverable).length
      found.read.add(secret)
      const type = this.secrets.get(`${namespace}/${secret}`)
      if (type === undefined) found.missing.add(`${namespace}/${secret}`)
      const source: SecretMapping['source'] = {name: secret}
      if (type === undefined) source.missing = true
      if (u.optionalAll) source.optional = true
      if (type) source.type = type
      const mapping: SecretMapping = {source, vaultPath: this.vaultPath({mount: this.shape.mount, cluster: this.shape.clusterName, namespace, secret})}
      const keys = Object.keys(u.fields)
      if (keys.length > 1) keys.sort(compareText)
      if (keys.length > 0) {
        const fields: Record<string, string | string[]> = {}
        for (const k of keys) fields[k] = u.fields[k]!.length === 1 ? u.fields[k]![0]! : u.fields[k]!
        mapping.fields = fields
      }
      if (u.envFrom) mapping.envFrom = u.envFrom
      if (u.files.length > 0) mapping.files = u.files
      mapping.references = u.references
      secrets.push(mapping)
    }
    const containers: ContainerRef[] = []
    for (const {container: c, init} of containersOf(template)) {
      const ref: ContainerRef = {name: c.name}
      if (init) ref.init = true
      if (c.image) ref.image = c.image
      const expands = expandedSecretNames(c)
      if (expands.length > 0) ref.expands = expands
      containers.push(ref)
    }
    const spec = object.spec as {replicas?: number} | undefined
    const workload = {kind, name, serviceAccount: template.spec?.serviceAccountName ?? 'default'} as Workload
    if (kind === 'Deployment' || kind === 'StatefulSet') workload.replicas = spec?.replicas ?? 1
    workload.containers = containers
    workload.secrets = secrets
    // Recorded when valid; the webhook denies the Pods of a template whose settings are not.
    const s3 = s3ProxyRequest(template.metadata?.annotations ?? {})
    if (s3 && !('error' in s3)) {
      const {requireEncrypted, ...settings} = s3
      workload.s3Proxy = {...settings, ...(requireEncrypted ? {requireEncrypted} : {})}
    }
    workload.status = {state: 'pending'}
    found.workloads.push(workload)
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
    const kernelProtection = options.kernelProtection ?? kernelProtectionDefault(observed.nodeKernelModes).value
    const inScope = new Set(observed.namespaces)
    const tenants: Tenant[] = []
    const alreadyInjected: DiscoverReport['alreadyInjected'] = []
    const vaultInjected: ObservedWorkload[] = []
    const missing = new Set<string>()
    let pullSecrets = 0
    let files = 0
    let workloads = 0
    let secrets = 0
    for (const [namespace, found] of this.found) {
      if (!inScope.has(namespace)) continue
      alreadyInjected.push(...found.alreadyInjected)
      vaultInjected.push(...found.vaultInjected)
      pullSecrets += found.pullSecrets
      files += found.files
      for (const m of found.missing) missing.add(m)
      if (found.workloads.length === 0) continue
      workloads += found.workloads.length
      secrets += found.read.size
      const id = tenantIdentity(cluster, namespace)
      const withKernel = found.workloads.sort(byKindName).map((w) => withKernelProtection(w, kernelProtection))
      tenants.push({name: namespace, namespace, policy: id, role: id, workloads: withKernel})
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
      workloads,
      secrets,
    }
  }
}

/** The workload with kernelProtection placed after its identity, where reviewers read it first. */
function withKernelProtection(w: Workload, value: KernelProtection): Workload {
  const {kind, name, serviceAccount, replicas, ...rest} = w
  return {kind, name, serviceAccount, ...(replicas !== undefined ? {replicas} : {}), kernelProtection: value, ...rest}
}

/** Pure: the whole observation at once (tests, and the shape of what PlanBuilder does). */
export function buildPlan(observed: Observed, options: DiscoverOptions): DiscoverReport {
  const builder = new PlanBuilder({clusterName: observed.clusterName, mount: options.mount, pathTemplate: options.pathTemplate})
  builder.secretsListed(observed.secrets)
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
