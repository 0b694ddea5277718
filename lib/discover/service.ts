import type {KubeConfig} from '@kubernetes/client-node'
import type {KubeTarget} from '../kube/kubeconfig.js'
import {currentActorAsync} from '../actor.js'
import type {LoadedPlan} from '../plan/io.js'
import type {GitProvenance, MigrationPlan} from '../plan/types.generated.js'
import {PreparedWorkloads} from '../plan/prepared.js'
import {TOOL_VERSION} from '../version.js'
import {collect, type CollectOptions} from './collect.js'
import {gitProvenance} from './git.js'
import {clusterNameFrom, DEFAULT_PATH_TEMPLATE, PlanBuilder, type DiscoverReport, type ObservedCluster} from './transform.js'
import {mergeDiscovery, type UpdateSummary} from './update.js'

export interface DiscoverRequest extends CollectOptions {
  clusterName?: string
  mount?: string
  pathTemplate?: string
  authMount?: string
  vaultAddress?: string
  output?: string
  update?: string
  /**
   * False when the caller wants the file and the counts, not the plan object back: discover then
   * keeps no workload once its text is written (DiscoverResult.plan is absent).
   */
  planNeeded?: boolean
}

export interface DiscoverResult {
  file?: string
  cluster: {name: string; fingerprint: string}
  tenants: number
  workloads: number
  secrets: number
  alreadyInjected: DiscoverReport['alreadyInjected']
  vaultInjected: number
  notProtectable: number
  missingSecrets: string[]
  imagePullSecretsIgnored: number
  filesNotDeliverable: number
  update?: UpdateSummary
  /** Absent when the request said planNeeded: false. */
  plan?: MigrationPlan
}

const now = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')

export function defaultClusterName(kc: KubeConfig | KubeTarget): string {
  if (!('getContextObject' in kc)) return clusterNameFrom(kc.cluster)
  const ctx = kc.getContextObject(kc.getCurrentContext())
  return clusterNameFrom(ctx?.cluster ?? kc.getCurrentCluster()?.name ?? 'cluster')
}

export async function discover(kc: KubeConfig | KubeTarget, req: DiscoverRequest): Promise<DiscoverResult> {
  return finishDiscovery(await listCluster(kc, req), req)
}

/** Discover's first half: the cluster listed and turned into the parts of a plan; nothing written. */
export interface ListedCluster {
  clusterName: string
  mount: string
  pathTemplate: string
  existing?: LoadedPlan
  io?: Promise<typeof import('../plan/io.js')>
  git: Promise<GitProvenance | undefined>
  actor: Promise<string>
  builder: PlanBuilder
  prepared?: PreparedWorkloads
  observed: ObservedCluster
}

export async function listCluster(kc: KubeConfig | KubeTarget, req: DiscoverRequest): Promise<ListedCluster> {
  // io.ts (the `yaml` library) only for --update; Git runs once the first request is on its way.
  const io = req.update ? import('../plan/io.js') : undefined
  const git = new Promise<GitProvenance | undefined>((resolve) => setImmediate(() => resolve(gitProvenance(process.cwd()))))
  const actor = new Promise<string>((resolve) => setImmediate(() => resolve(currentActorAsync())))
  const existing = io ? await (await io).loadPlan(req.update!) : undefined
  const clusterName = req.clusterName ? clusterNameFrom(req.clusterName) : (existing?.plan.metadata.cluster?.name ?? defaultClusterName(kc))
  const mount = req.mount ?? existing?.plan.openbao?.kvMount ?? 'secret'
  const pathTemplate = req.pathTemplate ?? DEFAULT_PATH_TEMPLATE
  // Each listed object is turned into its part of the plan as its page arrives, then dropped;
  // for a new plan file, each workload is also validated and rendered then (see PreparedWorkloads).
  const prepared = !existing && req.output ? new PreparedWorkloads() : undefined
  const standIns = req.planNeeded === false
  const builder = new PlanBuilder({clusterName, mount, pathTemplate, onWorkload: prepared && ((w) => prepared.add(w, standIns))})
  const observed = await collect(kc, req, builder)
  return {clusterName, mount, pathTemplate, existing, io, git, actor, builder, prepared, observed}
}

/** Discover's second half: the plan, written (new file, or --update), and what to report. */
export async function finishDiscovery(listed: ListedCluster, req: DiscoverRequest): Promise<DiscoverResult> {
  const {existing, observed, clusterName} = listed
  const report = listed.builder.finish(observed, {
    mount: listed.mount,
    pathTemplate: listed.pathTemplate,
    authMount: req.authMount ?? existing?.plan.openbao?.authMount,
    vaultAddress: req.vaultAddress ?? existing?.plan.openbao?.address,
    createdAt: now(),
    createdBy: await listed.actor,
    toolVersion: TOOL_VERSION,
    git: await listed.git,
  })
  let plan = report.plan
  let update: UpdateSummary | undefined
  let file = req.output
  if (existing) {
    const merged = mergeDiscovery(existing.plan, report.plan, now())
    plan = merged.plan
    update = merged.summary
    file = req.output ?? existing.file
    await (await listed.io!).savePlan(existing, plan, {file})
  } else if (file) {
    await (await import('../plan/new-plan.js')).writeNewPlan(file, plan, undefined, listed.prepared, report.parts)
  }
  // The builder counted (some workloads may be stand-ins); an updated plan is counted afresh.
  const secrets = (p: MigrationPlan): number => new Set(p.tenants.flatMap((t) => t.workloads.flatMap((w) => w.secrets.map((s) => `${t.namespace}/${s.source.name}`)))).size
  return {
    file,
    cluster: {name: clusterName, fingerprint: observed.fingerprint},
    tenants: plan.tenants.length,
    workloads: existing ? plan.tenants.reduce((n, t) => n + t.workloads.length, 0) : report.workloads,
    secrets: existing ? secrets(plan) : report.secrets,
    alreadyInjected: report.alreadyInjected,
    vaultInjected: plan.vaultInjected?.length ?? 0,
    notProtectable: plan.notProtectable?.length ?? 0,
    missingSecrets: report.missingSecrets,
    imagePullSecretsIgnored: report.imagePullSecretsIgnored,
    filesNotDeliverable: report.filesNotDeliverable,
    update,
    ...(report.parts ? {} : {plan}),
  }
}
