import type {MigrationPlan, WorkloadStatus} from './types.generated.js'

export type State = WorkloadStatus['state']
export type Counts = Record<State, number> & {total: number}

export interface WorkloadSummary {
  kind: string
  name: string
  state: State
  secrets: string[]
  at?: string
  by?: string
  reason?: string
  vanished?: boolean
  /** The S3 proxy the pod template asks for: where objects go and which Transit key wraps them. */
  s3Proxy?: {upstream: string; transitKey: string}
}

export interface TenantSummary {
  name: string
  namespace: string
  policy?: string
  role?: string
  counts: Counts
  workloads: WorkloadSummary[]
}

export interface PlanSummary {
  name: string
  cluster?: {name: string; fingerprint: string}
  createdAt?: string
  createdBy?: string
  counts: Counts
  tenants: TenantSummary[]
  notProtectable: number
  vaultInjected: number
}

const emptyCounts = (): Counts => ({total: 0, pending: 0, migrated: 0, skipped: 0, failed: 0})

export function summarizePlan(plan: MigrationPlan): PlanSummary {
  const counts = emptyCounts()
  const tenants = plan.tenants.map((t) => {
    const c = emptyCounts()
    const workloads = t.workloads.map((w) => {
      c[w.status.state]++
      c.total++
      counts[w.status.state]++
      counts.total++
      return {
        kind: w.kind,
        name: w.name,
        state: w.status.state,
        secrets: w.secrets.map((s) => s.vaultPath),
        at: w.status.at,
        by: w.status.by,
        reason: w.status.reason,
        vanished: w.vanished,
        ...(w.s3Proxy ? {s3Proxy: {upstream: w.s3Proxy.upstream, transitKey: `${w.s3Proxy.transitMount ?? 'transit'}/${w.s3Proxy.transitKey}`}} : {}),
      }
    })
    return {name: t.name, namespace: t.namespace, policy: t.policy, role: t.role, counts: c, workloads}
  })
  return {
    name: plan.metadata.name,
    cluster: plan.metadata.cluster,
    createdAt: plan.metadata.createdAt,
    createdBy: plan.metadata.createdBy,
    counts,
    tenants,
    notProtectable: plan.notProtectable?.length ?? 0,
    vaultInjected: plan.vaultInjected?.length ?? 0,
  }
}

export const progressLine = (c: Counts): string =>
  `${c.migrated}/${c.total} migrated, ${c.pending} pending, ${c.skipped} skipped, ${c.failed} failed`
