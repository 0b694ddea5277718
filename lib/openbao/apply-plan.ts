import {CloudtaserError} from '../errors.js'
import type {MigrationPlan} from '../plan/types.generated.js'
import {summarize, type Action, type ActionSummary} from './actions.js'
import type {ClientStats, OpenBaoClient} from './client.js'
import {detectKvMount, type KvMountInfo} from './kv.js'
import {executeManaged, observeManaged, planManaged, type ManagedSet, type ObservedState} from './managed.js'
import {deleteMigrator, migratorAccess, staleMigrator} from './migrator-access.js'
import {activeWorkloads, authMountOf, kvMountOf, plannedSecret, policyNameOf, roleNameOf} from './plan-paths.js'
import {renderPolicy, type PolicyRule} from './policy.js'
import {executeTransit, observeTransit, planTransit, transitNeedsOf} from './transit-keys.js'

export interface TokenTtls {
  /** Seconds. */
  tokenTtl: number
  tokenMaxTtl: number
}

/** Short-lived tokens: the wrapper logs in at start and re-logs in when it needs to. */
export const DEFAULT_TTLS: TokenTtls = {tokenTtl: 15 * 60, tokenMaxTtl: 60 * 60}

/**
 * Pure: per tenant, a policy granting read on exactly the tenant's KV v2 data paths and their
 * metadata paths (sorted, de-duplicated, no globs) and a role bound to its namespace and service
 * accounts. With `clusterMigrate`, also the migrator's policy and role (migrator-access.ts).
 * A workload with `s3Proxy` adds what its proxy sidecar does as the same role: read its
 * credentials path (and versions), and encrypt, decrypt and read exactly its Transit key.
 */
export function desiredFromPlan(plan: MigrationPlan, ttls: TokenTtls = DEFAULT_TTLS, options: {clusterMigrate?: boolean} = {}): ManagedSet {
  const owner = `plan=${plan.metadata.name}`
  const set: ManagedSet = {owner, authMount: authMountOf(plan), policies: [], roles: []}
  for (const t of plan.tenants) {
    const workloads = activeWorkloads(t)
    const paths = new Set<string>()
    const transit = new Map<string, PolicyRule>()
    const accounts = new Set<string>()
    for (const w of workloads) {
      accounts.add(w.serviceAccount ?? 'default')
      if (w.s3Proxy) {
        const {credentials, transitMount = 'transit', transitKey} = w.s3Proxy
        paths.add(credentials)
        paths.add(credentials.replace('/data/', '/metadata/'))
        for (const op of ['encrypt', 'decrypt']) transit.set(`${transitMount}/${op}/${transitKey}`, {path: `${transitMount}/${op}/${transitKey}`, capabilities: ['update']})
        // The proxy checks the key exists: transit/encrypt would silently create a mistyped one.
        transit.set(`${transitMount}/keys/${transitKey}`, {path: `${transitMount}/keys/${transitKey}`, capabilities: ['read']})
      }
      w.secrets.forEach((s, i) => {
        const p = plannedSecret(plan, s, `tenant ${t.name}, ${w.kind}/${w.name}, secret ${i}`)
        paths.add(p.vaultPath)
        // Versions only (no values): the wrapper polls these to notice a changed secret.
        paths.add(`${p.mount}/metadata/${p.path}`)
      })
    }
    if (workloads.length === 0) continue
    const policy = policyNameOf(t)
    set.policies.push({
      name: policy,
      tenant: t.name,
      text: renderPolicy(
        owner,
        [
          `tenant=${t.name} namespace=${t.namespace}`,
          'Read on exactly the secrets this tenant\'s workloads use (data), and their KV metadata (versions, for change detection). Written by `cloudtaser source apply-plan`.',
          ...(transit.size > 0 ? ['The S3 proxy sidecars of its s3Proxy workloads: their Transit keys (encrypt, decrypt, and read to check the key exists).'] : []),
        ],
        [...[...paths].sort().map((path) => ({path, capabilities: ['read']})), ...[...transit.keys()].sort().map((k) => transit.get(k)!)],
      ),
    })
    set.roles.push({
      name: roleNameOf(t),
      tenant: t.name,
      spec: {
        bound_service_account_names: [...accounts].sort(),
        bound_service_account_namespaces: [t.namespace],
        token_policies: [policy],
        token_ttl: ttls.tokenTtl,
        token_max_ttl: ttls.tokenMaxTtl,
      },
    })
  }
  if (options.clusterMigrate) {
    const m = migratorAccess(plan, owner)
    set.policies.push(m.policy)
    set.roles.push(m.role)
  }
  return set
}

export const kvMountsOf = (plan: MigrationPlan): string[] =>
  [...new Set(plan.tenants.flatMap((t) => activeWorkloads(t).flatMap((w) => w.secrets.map((s) => kvMountOf(plan, s)))))].sort()

export interface ApplyPlanResult {
  plan: string
  dryRun: boolean
  force: boolean
  authMount: string
  kvMounts: KvMountInfo[]
  actions: Action[]
  summary: ActionSummary
  /** True when conflicts stopped the run: nothing was written. */
  refused: boolean
  requests: ClientStats
  ms: number
}

export interface ApplyPlanOptions {
  dryRun?: boolean
  force?: boolean
  ttls?: TokenTtls
  concurrency?: number
  /** Also the role and policy `target migrate --via-broker` logs in with (beacon mode). */
  clusterMigrate?: boolean
}

/**
 * Reads policies and roles only (never a secret path), plans, and applies unless dry-run. Any
 * conflict stops the whole run before the first write, so a partly applied plan never results
 * from a foreign object.
 */
export async function applyPlan(client: OpenBaoClient, plan: MigrationPlan, options: ApplyPlanOptions = {}): Promise<ApplyPlanResult> {
  const t0 = performance.now()
  const concurrency = options.concurrency ?? 8
  const set = desiredFromPlan(plan, options.ttls, {clusterMigrate: options.clusterMigrate})
  const kvMounts: KvMountInfo[] = []
  for (const m of kvMountsOf(plan)) kvMounts.push(await detectKvMount(client, m))
  const observed: ObservedState = await observeManaged(client, set, concurrency)
  // The migrator logs in with a token of the broker's audience, which only a jwt mount checks.
  if (options.clusterMigrate && observed.authType === 'kubernetes') {
    throw new CloudtaserError('MIGRATE_NEEDS_JWT_MOUNT', `--allow-cluster-migrate: auth/${set.authMount}/ is a kubernetes auth method; the migrator role is for a jwt mount (beacon mode)`)
  }
  const revoked = options.clusterMigrate ? [] : await staleMigrator(client, set)
  // The S3 proxies' Transit keys: before the policies that grant them, so a role never names a key that is not there.
  const transit = planTransit(await observeTransit(client, transitNeedsOf(plan)))
  const actions = [...transit, ...planManaged(set, observed, {force: options.force}), ...revoked]
  const summary = summarize(actions)
  const refused = summary.conflict > 0
  if (!options.dryRun && !refused) {
    await executeTransit(client, actions)
    await executeManaged(client, set, actions, observed.authType, concurrency)
    await deleteMigrator(client, set.authMount, revoked)
  }
  return {
    plan: plan.metadata.name,
    dryRun: Boolean(options.dryRun),
    force: Boolean(options.force),
    authMount: set.authMount,
    kvMounts,
    actions,
    summary,
    refused,
    requests: structuredClone(client.stats),
    ms: Math.round(performance.now() - t0),
  }
}
