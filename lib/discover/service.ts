import type {KubeConfig} from '@kubernetes/client-node'
import type {KubeTarget} from '../kube/kubeconfig.js'
import {currentActorAsync} from '../actor.js'
import type {GitProvenance, MigrationPlan} from '../plan/types.generated.js'
import {CloudtaserError, ExitCode} from '../errors.js'
import {validatePlan, type PointerIssue} from '../plan/validate.js'
import {TOOL_VERSION} from '../version.js'
import {collect, type CollectOptions} from './collect.js'
import {gitProvenance} from './git.js'
import {clusterNameFrom, DEFAULT_PATH_TEMPLATE, kernelProtectionDefault, PlanBuilder, type DiscoverReport, type KernelProtection} from './transform.js'
import {mergeDiscovery, type UpdateSummary} from './update.js'

export interface DiscoverRequest extends CollectOptions {
  clusterName?: string
  mount?: string
  pathTemplate?: string
  authMount?: string
  vaultAddress?: string
  output?: string
  update?: string
  /** Every workload's kernelProtection; default: from what the nodes' agents report. */
  kernelProtection?: KernelProtection
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
  /** The kernelProtection new workloads got, and why. */
  kernelProtection: {value: KernelProtection; why: string}
  update?: UpdateSummary
  plan: MigrationPlan
}

const now = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')

export function defaultClusterName(kc: KubeConfig | KubeTarget): string {
  if (!('getContextObject' in kc)) return clusterNameFrom(kc.cluster)
  const ctx = kc.getContextObject(kc.getCurrentContext())
  return clusterNameFrom(ctx?.cluster ?? kc.getCurrentCluster()?.name ?? 'cluster')
}

/**
 * Lists the cluster (each listed object becomes its part of the plan as its page arrives and is
 * dropped), then writes the plan: a new file, or --update into a reviewed one.
 */
export async function discover(kc: KubeConfig | KubeTarget, req: DiscoverRequest): Promise<DiscoverResult> {
  // io.ts (the `yaml` library) only for --update; Git runs once the first request is on its way.
  const io = req.update ? import('../plan/io.js') : undefined
  const git = new Promise<GitProvenance | undefined>((resolve) => setImmediate(() => resolve(gitProvenance(process.cwd()))))
  const actor = new Promise<string>((resolve) => setImmediate(() => resolve(currentActorAsync())))
  const existing = io ? await (await io).loadPlan(req.update!) : undefined
  const clusterName = req.clusterName ? clusterNameFrom(req.clusterName) : (existing?.plan.metadata.cluster?.name ?? defaultClusterName(kc))
  const mount = req.mount ?? existing?.plan.openbao?.kvMount ?? 'secret'
  const pathTemplate = req.pathTemplate ?? DEFAULT_PATH_TEMPLATE
  const builder = new PlanBuilder({clusterName, mount, pathTemplate})
  const observed = await collect(kc, req, builder)
  const kernelProtection = req.kernelProtection ? {value: req.kernelProtection, why: 'chosen with --kernel-protection'} : kernelProtectionDefault(observed.nodeKernelModes)

  const report = builder.finish(observed, {
    mount,
    pathTemplate,
    authMount: req.authMount ?? existing?.plan.openbao?.authMount,
    vaultAddress: req.vaultAddress ?? existing?.plan.openbao?.address,
    createdAt: now(),
    createdBy: await actor,
    toolVersion: TOOL_VERSION,
    git: await git,
    kernelProtection: kernelProtection.value,
  })
  let plan = report.plan
  let update: UpdateSummary | undefined
  let file = req.output
  if (existing) {
    const merged = mergeDiscovery(existing.plan, report.plan, now())
    plan = merged.plan
    update = merged.summary
    file = req.output ?? existing.file
    await (await io!).savePlan(existing, plan, {file})
  } else if (file) {
    await (await import('../plan/new-plan.js')).writeNewPlan(file, plan).catch((err: unknown) => {
      throw err instanceof CloudtaserError && err.code === 'PLAN_WOULD_BE_INVALID' ? unrepresentable(plan, (err.details as {issues: PointerIssue[]}).issues) : err
    })
  } else {
    const issues = validatePlan(plan)
    if (issues.length > 0) throw unrepresentable(plan, issues)
  }
  // An updated plan is counted afresh; a new one as the builder counted it.
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
    kernelProtection,
    update,
    plan,
  }
}

/**
 * The cluster holds something the plan schema cannot express (the plan, not the cluster, is the
 * limit): a user-facing error naming the workload and the field, never an internal one.
 */
function unrepresentable(plan: MigrationPlan, issues: PointerIssue[]): CloudtaserError {
  const first = issues[0]!
  const at = /^\/tenants\/(\d+)\/workloads\/(\d+)(.*)$/.exec(first.pointer)
  const tenant = at ? plan.tenants[Number(at[1])] : undefined
  const workload = at ? tenant?.workloads[Number(at[2])] : undefined
  const where = workload ? `${workload.kind} ${tenant!.namespace}/${workload.name} (${at?.[3] || '/'})` : first.pointer || '/'
  return new CloudtaserError('DISCOVER_UNREPRESENTABLE', `the cluster holds something a plan cannot express: ${where}: ${first.message}`, {
    exitCode: ExitCode.CONFIG,
    hint: 'Leave that namespace out (--exclude-namespace, or -n for the namespaces to migrate), or change the option that produced the value (e.g. --path-template, --mount). If neither explains it, report it with this message.',
    details: {issues},
  })
}
