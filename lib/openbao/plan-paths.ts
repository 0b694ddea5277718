import {CloudtaserError, ExitCode} from '../errors.js'
import type {MigrationPlan, SecretMapping, Tenant, Workload} from '../plan/types.generated.js'
import {secretPathOf} from './kv.js'

/** Defaults shared with `target protect` (which writes `tenant.role ?? tenant.name` into the pods). */
export const roleNameOf = (t: Tenant): string => t.role ?? t.name
export const policyNameOf = (t: Tenant): string => t.policy ?? roleNameOf(t)
export const kvMountOf = (plan: MigrationPlan, s?: SecretMapping): string => s?.kvMount ?? plan.openbao?.kvMount ?? 'secret'
export const authMountOf = (plan: MigrationPlan): string => plan.openbao?.authMount ?? 'kubernetes'

/**
 * Workloads whose pods will read from OpenBao: a vanished workload has no pods, and a skipped one
 * keeps its Kubernetes Secrets, so neither gets access (least privilege; re-run apply-plan after
 * un-skipping).
 */
export const activeWorkloads = (t: Tenant): Workload[] => t.workloads.filter((w) => !w.vanished && w.status.state !== 'skipped')

export interface PlannedSecret {
  vaultPath: string
  mount: string
  /** Path below the mount's data/. */
  path: string
}

export function plannedSecret(plan: MigrationPlan, s: SecretMapping, where: string): PlannedSecret {
  const mount = kvMountOf(plan, s)
  const path = secretPathOf(s.vaultPath, mount)
  if (path === undefined) {
    throw new CloudtaserError('PLAN_PATH_MOUNT_MISMATCH', `${where}: vaultPath "${s.vaultPath}" is not under the KV mount "${mount}/data/"`, {
      exitCode: ExitCode.CONFIG,
      hint: 'Set kvMount on the secret (or openbao.kvMount in the plan) to the mount the path starts with.',
    })
  }
  return {vaultPath: s.vaultPath, mount, path}
}

/** Fields that must exist in OpenBao: mapped env fields and file items (envFrom needs none by name). */
export const requiredFieldsOf = (s: SecretMapping): string[] =>
  [...new Set([...Object.keys(s.fields ?? {}), ...(s.files ?? []).flatMap((f) => (f.items ?? []).map((i) => i.key))])].sort()
