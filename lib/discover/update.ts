import {byKindName, compareText} from './transform.js'
import type {MigrationPlan, SecretMapping, Tenant, Workload} from '../plan/types.generated.js'

export interface UpdateSummary {
  added: string[]
  vanished: string[]
  secretsAdded: string[]
  /** Secrets a workload no longer refers to: kept in the plan (reviewers decide), reported here. */
  secretsGone: string[]
}

const key = (ns: string, w: {kind: string; name: string}): string => `${ns}/${w.kind}/${w.name}`

/**
 * Pure: folds a fresh discovery into a reviewed plan. What reviewers and protect wrote wins
 * (statuses, notes, edited paths and names); what the cluster now has is added; what it no
 * longer has is marked vanished, never deleted, because the plan is an audit record.
 */
export function mergeDiscovery(existing: MigrationPlan, fresh: MigrationPlan, updatedAt: string): {plan: MigrationPlan; summary: UpdateSummary} {
  const plan = structuredClone(existing)
  const summary: UpdateSummary = {added: [], vanished: [], secretsAdded: [], secretsGone: []}
  const freshWorkloads = new Map<string, Workload>()
  for (const t of fresh.tenants) for (const w of t.workloads) freshWorkloads.set(key(t.namespace, w), w)

  for (const t of plan.tenants) {
    for (const w of t.workloads) {
      const now = freshWorkloads.get(key(t.namespace, w))
      if (!now) {
        if (!w.vanished) summary.vanished.push(key(t.namespace, w))
        w.vanished = true
        continue
      }
      delete w.vanished
      w.serviceAccount = now.serviceAccount
      if (now.replicas !== undefined) w.replicas = now.replicas
      if (now.containers) w.containers = now.containers
      // What the pod template asks for now, as containers: the cluster's, not a reviewer's choice.
      if (now.s3Proxy) w.s3Proxy = now.s3Proxy
      else delete w.s3Proxy
      w.secrets = mergeSecrets(w.secrets, now.secrets, (s) => summary.secretsAdded.push(`${key(t.namespace, w)}: ${s}`))
      for (const s of w.secrets) if (!now.secrets.some((n) => n.source.name === s.source.name)) summary.secretsGone.push(`${key(t.namespace, w)}: ${s.source.name}`)
    }
  }
  for (const ft of fresh.tenants) {
    let tenant = plan.tenants.find((t) => t.namespace === ft.namespace)
    if (!tenant) {
      tenant = {...structuredClone(ft), workloads: []} as Tenant
      plan.tenants.push(tenant)
      plan.tenants.sort((a, b) => compareText(a.namespace, b.namespace))
    }
    for (const w of ft.workloads) {
      if (tenant.workloads.some((x) => x.kind === w.kind && x.name === w.name)) continue
      tenant.workloads.push(structuredClone(w))
      summary.added.push(key(ft.namespace, w))
    }
  }
  // New entries take their sorted place, so an updated plan diffs like a fresh one would.
  for (const t of plan.tenants) t.workloads.sort(byKindName)
  for (const list of Object.values(summary)) list.sort()
  plan.metadata.updatedAt = updatedAt
  if (fresh.notProtectable) plan.notProtectable = fresh.notProtectable
  else delete plan.notProtectable
  if (fresh.vaultInjected) plan.vaultInjected = fresh.vaultInjected
  else delete plan.vaultInjected
  return {plan, summary}
}

function mergeSecrets(old: SecretMapping[], now: SecretMapping[], added: (name: string) => void): SecretMapping[] {
  const out = old.map((s) => structuredClone(s))
  for (const n of now) {
    const o = out.find((s) => s.source.name === n.source.name)
    if (!o) {
      out.push(structuredClone(n))
      added(n.source.name)
      continue
    }
    // A reviewer may have changed the path or an env name: keep theirs, add fields that are new.
    if (n.fields) o.fields = Object.fromEntries(Object.entries({...n.fields, ...o.fields}).sort(([a], [b]) => compareText(a, b)))
    if (n.envFrom && !o.envFrom) o.envFrom = n.envFrom
    o.source = {...n.source}
    if (n.files) o.files = n.files
    if (n.references) o.references = n.references
  }
  return out.sort((a, b) => compareText(a.source.name, b.source.name))
}
