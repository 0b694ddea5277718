import {CloudtaserError} from '../errors.js'
import {kvMountOf} from '../openbao/plan-paths.js'
import {secretPathOf} from '../openbao/kv.js'
import type {MigratedSecret, MigrationPlan, Tenant, Workload} from '../plan/types.generated.js'
import {unitKey, unitsOf, type SecretUnit} from './units.js'

/**
 * The Secrets finalize, rollback and --check look at: every Secret the plan's active workloads
 * read (copied or not) and every Secret the plan records (even one no active workload reads any
 * more), each with its record and the plan workloads that name it.
 */
export interface Target {
  tenant: Tenant
  namespace: string
  name: string
  record?: MigratedSecret
  unit?: SecretUnit
  /** Every plan workload of the tenant that names this Secret (vanished ones left out: they have no Pods). */
  workloads: Workload[]
  mount?: string
  path?: string
}

export function targetsOf(plan: MigrationPlan, only?: readonly string[]): Target[] {
  const units = new Map(unitsOf(plan).map((u) => [unitKey(u), u]))
  const out = new Map<string, Target>()
  for (const tenant of plan.tenants) {
    const names = new Set([...(tenant.secrets ?? []).map((r) => r.name), ...[...units.values()].filter((u) => u.namespace === tenant.namespace).map((u) => u.name)])
    for (const name of [...names].sort()) {
      const key = `${tenant.namespace}/${name}`
      const record = tenant.secrets?.find((r) => r.name === name)
      const unit = units.get(key)
      const vaultPath = record?.vaultPath ?? unit?.vaultPath
      const mount = unit && unit.vaultPath === vaultPath ? unit.mount : vaultPath ? mountOf(plan, tenant, name, vaultPath) : undefined
      out.set(key, {
        tenant,
        namespace: tenant.namespace,
        name,
        record,
        unit,
        workloads: tenant.workloads.filter((w) => !w.vanished && w.secrets.some((s) => s.source.name === name)),
        mount,
        path: mount && vaultPath ? secretPathOf(vaultPath, mount) : undefined,
      })
    }
  }
  if (only && only.length > 0) {
    const unknown = only.filter((k) => !out.has(k))
    if (unknown.length > 0) throw new CloudtaserError('MIGRATE_UNKNOWN_SECRET', `not a Secret of this plan: ${unknown.join(', ')}`)
    return only.map((k) => out.get(k)!)
  }
  return [...out.values()]
}

/** The mount of a recorded path: the kvMount of a plan secret with that path, else the plan's default. */
function mountOf(plan: MigrationPlan, tenant: Tenant, name: string, vaultPath: string): string {
  for (const w of tenant.workloads) for (const s of w.secrets) if (s.source.name === name && s.vaultPath === vaultPath) return kvMountOf(plan, s)
  return kvMountOf(plan)
}
