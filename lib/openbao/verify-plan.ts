import type {MigrationPlan} from '../plan/types.generated.js'
import {mapBounded} from '../bounded.js'
import type {ClientStats, OpenBaoClient} from './client.js'
import {detectKvMount, inspectSecret, type KvMountInfo, type SecretInspection, type SecretState} from './kv.js'
import {S3_PROXY_CREDENTIAL_FIELDS} from '../s3-proxy-annotations.js'
import {activeWorkloads, plannedSecret, requiredFieldsOf, type PlannedSecret} from './plan-paths.js'
import {observeTransit, transitNeedsOf, type TransitKeyCheck} from './transit-keys.js'

/** One OpenBao secret the plan needs, with every field any workload maps from it. */
export interface SecretRequirement extends PlannedSecret {
  fields: string[]
  /** `namespace/Kind/name` of the workloads that read it. */
  workloads: string[]
}

/** Pure: the plan's secrets (and each s3Proxy's credentials, with their four fields), de-duplicated by path, fields unioned. */
export function requirementsOf(plan: MigrationPlan): SecretRequirement[] {
  const by = new Map<string, SecretRequirement>()
  for (const t of plan.tenants) {
    for (const w of activeWorkloads(t)) {
      const who = `${t.namespace}/${w.kind}/${w.name}`
      const need = (p: PlannedSecret, fields: string[]) => {
        const r = by.get(p.vaultPath) ?? {...p, fields: [], workloads: []}
        r.fields = [...new Set([...r.fields, ...fields])].sort()
        if (!r.workloads.includes(who)) r.workloads.push(who)
        by.set(p.vaultPath, r)
      }
      w.secrets.forEach((s, i) => need(plannedSecret(plan, s, `tenant ${t.name}, ${w.kind}/${w.name}, secret ${i}`), requiredFieldsOf(s)))
      // The schema's pattern guarantees one `/data/`; the mount is what precedes the first.
      const credentials = w.s3Proxy?.credentials
      if (credentials) {
        const at = credentials.indexOf('/data/')
        need({vaultPath: credentials, mount: credentials.slice(0, at), path: credentials.slice(at + '/data/'.length)}, Object.keys(S3_PROXY_CREDENTIAL_FIELDS))
      }
    }
  }
  return [...by.values()].sort((a, b) => a.vaultPath.localeCompare(b.vaultPath))
}

export interface SecretCheck {
  vaultPath: string
  state: SecretState
  version?: number
  /** Field names required by the plan that the current version lacks. */
  missingFields: string[]
  checkedFields: string[]
  read: 'metadata' | 'data'
  workloads: string[]
}

export interface VerifyPlanResult {
  plan: string
  ok: boolean
  kvMounts: KvMountInfo[]
  secrets: SecretCheck[]
  counts: Record<SecretState, number>
  /** The Transit key of each s3Proxy in the plan: ok needs every one present. */
  transitKeys: TransitKeyCheck[]
  requests: ClientStats
  ms: number
}

/** Pure: one row per requirement. */
export function evaluate(reqs: readonly SecretRequirement[], inspections: readonly SecretInspection[], transitKeys: readonly TransitKeyCheck[] = []): Omit<VerifyPlanResult, 'plan' | 'kvMounts' | 'requests' | 'ms'> {
  const counts: Record<SecretState, number> = {ok: 0, missing: 0, deleted: 0, destroyed: 0, 'fields-missing': 0}
  const secrets = reqs.map((r, i) => {
    const x = inspections[i]!
    counts[x.state]++
    return {vaultPath: r.vaultPath, state: x.state, version: x.version, missingFields: x.missingFields, checkedFields: r.fields, read: x.read, workloads: r.workloads}
  })
  return {ok: secrets.every((s) => s.state === 'ok') && transitKeys.every((k) => k.state === 'present'), secrets, counts, transitKeys: [...transitKeys]}
}

/** One request per secret: metadata when no field is mapped, else a data read scanned for field names only; the mount table and one read per Transit key. */
export async function verifyPlan(client: OpenBaoClient, plan: MigrationPlan, options: {concurrency?: number} = {}): Promise<VerifyPlanResult> {
  const t0 = performance.now()
  const reqs = requirementsOf(plan)
  const kvMounts: KvMountInfo[] = []
  for (const m of [...new Set(reqs.map((r) => r.mount))].sort()) kvMounts.push(await detectKvMount(client, m))
  const inspections = await mapBounded(reqs, options.concurrency ?? 8, (r) => inspectSecret(client, r.mount, r.path, r.fields))
  const transitKeys = await observeTransit(client, transitNeedsOf(plan))
  return {plan: plan.metadata.name, kvMounts, ...evaluate(reqs, inspections, transitKeys), requests: structuredClone(client.stats), ms: Math.round(performance.now() - t0)}
}
