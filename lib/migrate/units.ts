import {CloudtaserError} from '../errors.js'
import type {SecretMeta} from '../kube/secret-values.js'
import {activeWorkloads, plannedSecret, requiredFieldsOf} from '../openbao/plan-paths.js'
import {secretShape} from '../plan/secret-shapes.js'
import type {MigratedSecret, MigrationPlan, Tenant} from '../plan/types.generated.js'

/** One Kubernetes Secret the plan moves, with the one OpenBao path every workload maps it to. */
export interface SecretUnit {
  tenant: string
  namespace: string
  name: string
  vaultPath: string
  mount: string
  /** Path below the mount's data/. */
  path: string
  /** Fields the plan maps by name: the Secret must have them. */
  requiredFields: string[]
  /** Every reference is optional, so an absent Secret is not an error. */
  optional: boolean
  /** `Kind/name` of the plan's workloads that read it. */
  workloads: string[]
  /** What an earlier run recorded, if anything (for this Secret and this path). */
  record?: MigratedSecret
}

export const unitKey = (u: {namespace: string; name: string}): string => `${u.namespace}/${u.name}`

/**
 * Pure: the Secrets of the plan's active workloads (not vanished, not skipped), one unit per
 * Secret. A Secret mapped to two different OpenBao paths is refused: copying it twice would leave
 * two sources of truth, and finalize could not say which one the Secret was replaced by.
 */
export function unitsOf(plan: MigrationPlan): SecretUnit[] {
  const units: SecretUnit[] = []
  for (const t of plan.tenants) {
    const by = new Map<string, SecretUnit>()
    for (const w of activeWorkloads(t)) {
      w.secrets.forEach((s, i) => {
        const p = plannedSecret(plan, s, `tenant ${t.name}, ${w.kind}/${w.name}, secret ${i}`)
        const found = by.get(s.source.name)
        if (found && found.vaultPath !== p.vaultPath) {
          throw new CloudtaserError('MIGRATE_PATH_AMBIGUOUS', `Secret ${t.namespace}/${s.source.name} is mapped to two OpenBao paths: ${found.vaultPath} (${found.workloads[0]}) and ${p.vaultPath} (${w.kind}/${w.name})`, {
            hint: 'Give every workload that reads this Secret the same vaultPath in the plan.',
          })
        }
        const unit = found ?? {
          tenant: t.name,
          namespace: t.namespace,
          name: s.source.name,
          ...p,
          requiredFields: [],
          optional: true,
          workloads: [],
          record: recordOf(t, s.source.name, p.vaultPath),
        }
        unit.requiredFields = [...new Set([...unit.requiredFields, ...requiredFieldsOf(s)])].sort()
        unit.optional &&= s.source.optional === true
        unit.workloads.push(`${w.kind}/${w.name}`)
        by.set(s.source.name, unit)
      })
    }
    units.push(...[...by.values()].sort((a, b) => a.name.localeCompare(b.name)))
  }
  return units
}

const recordOf = (t: Tenant, name: string, vaultPath: string): MigratedSecret | undefined => t.secrets?.find((r) => r.name === name && r.vaultPath === vaultPath)

/** Every record of the plan with its tenant: what finalize, rollback and --check act on. */
export const recordsOf = (plan: MigrationPlan): Array<{tenant: Tenant; record: MigratedSecret}> =>
  plan.tenants.flatMap((tenant) => (tenant.secrets ?? []).map((record) => ({tenant, record})))

/** Puts `record` into the tenant's list (replacing the one for the same Secret), sorted by name. */
export function upsertRecord(tenant: Tenant, record: MigratedSecret): void {
  const list = (tenant.secrets ?? []).filter((r) => r.name !== record.name)
  list.push(record)
  tenant.secrets = list.sort((a, b) => a.name.localeCompare(b.name))
}

const PULL_SECRET_TYPES = new Set(['kubernetes.io/dockerconfigjson', 'kubernetes.io/dockercfg'])

/** Why finalize must keep a Secret of this type in Kubernetes, whatever references it. */
export function keepReason(type: string): string | undefined {
  if (PULL_SECRET_TYPES.has(type)) {
    return `an image pull secret (${type}): the kubelet reads it to pull images (imagePullSecrets) and cannot read OpenBao, so it stays in Kubernetes; the values are copied for the workloads that read them`
  }
  if (type === 'kubernetes.io/service-account-token') {
    return 'a ServiceAccount token Secret: Kubernetes issues the token with the Secret and invalidates it when the Secret is deleted, so it stays in Kubernetes'
  }
  return undefined
}

/**
 * Labels and annotations as the plan may record them: without last-applied-configuration (the
 * reader never even decodes it) and without any value shaped like a secret (a token, key, long
 * base64 or hex, such as a checksum of the data from which a weak value could be guessed).
 */
export function recordableMetadata(meta: SecretMeta): Pick<MigratedSecret, 'labels' | 'annotations' | 'omittedAnnotations' | 'omittedLabels'> {
  const keepText = (v: string, max: number): boolean => v.length <= max && secretShape(v, true) === undefined
  const labels = Object.fromEntries(Object.entries(meta.labels).filter(([, v]) => keepText(v, 63)))
  const annotations = Object.fromEntries(Object.entries(meta.annotations).filter(([, v]) => keepText(v, 65536)))
  const omittedLabels = Object.keys(meta.labels).filter((k) => !(k in labels)).sort()
  const omittedAnnotations = [...new Set([...meta.skippedAnnotations, ...Object.keys(meta.annotations).filter((k) => !(k in annotations))])].sort()
  return {
    ...(Object.keys(labels).length > 0 ? {labels} : {}),
    ...(Object.keys(annotations).length > 0 ? {annotations} : {}),
    ...(omittedAnnotations.length > 0 ? {omittedAnnotations} : {}),
    ...(omittedLabels.length > 0 ? {omittedLabels} : {}),
  }
}

/** A plan-safe timestamp (seconds, UTC). */
export const now = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')
