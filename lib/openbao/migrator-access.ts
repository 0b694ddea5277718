// What `target migrate --via-broker` may do in OpenBao, written by `source apply-plan
// --allow-cluster-migrate` and deleted by apply-plan without it (docs/migrate.md, "Through the
// broker"). OpenBao enforces it, not the bridge: a role on the plan's jwt mount bound to one
// ServiceAccount of the cluster, whose policy allows writing exactly the plan's KV paths. The
// bridge keeps no privileged path of its own.
import {CloudtaserError, ExitCode} from '../errors.js'
import type {MigrationPlan} from '../plan/types.generated.js'
import type {Action} from './actions.js'
import type {OpenBaoClient} from './client.js'
import type {DesiredPolicy, DesiredRole, ManagedSet} from './managed.js'
import {activeWorkloads, plannedSecret} from './plan-paths.js'
import {ownershipOf, renderPolicy, type PolicyRule} from './policy.js'

/** The role and policy name on the plan's auth mount (one plan per mount may hold it). */
export const MIGRATOR_ROLE = 'cloudtaser-migrate'
/** The ServiceAccount the chart creates beside the broker (charts/cloudtaser/templates/broker.yaml); no Kubernetes permission of its own. */
export const MIGRATOR_SERVICE_ACCOUNT = 'cloudtaser-migrator'
/** A run of 1,000 Secrets takes seconds; the token dies soon after even if the CLI is killed before revoking it. */
export const MIGRATOR_TTLS = {tokenTtl: 10 * 60, tokenMaxTtl: 30 * 60}

export interface BrokerService {
  namespace: string
  name: string
  port: number
}

const SERVICE_URL = /^https:\/\/([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.svc(\.cluster\.local)?(:(\d+))?\/?$/

/**
 * The broker's Service from the plan's `openbao.address` (what wrappers dial in beacon mode,
 * `https://cloudtaser-broker.cloudtaser-system.svc:8200`): the migrator's ServiceAccount lives
 * in its namespace, and the CLI reaches it through the apiserver's service proxy.
 */
export function brokerServiceOf(plan: MigrationPlan): BrokerService {
  const address = plan.openbao?.address
  const m = address ? SERVICE_URL.exec(address) : null
  if (!m) {
    throw new CloudtaserError('MIGRATE_NOT_VIA_BROKER', `the plan's openbao.address (${address ?? 'none'}) is not an in-cluster broker Service (https://NAME.NAMESPACE.svc:PORT)`, {
      exitCode: ExitCode.CONFIG,
      hint: 'Going through the broker is for beacon mode, where the plan names the broker (`target discover --vault-address https://cloudtaser-broker.cloudtaser-system.svc:8200`). Otherwise reach OpenBao directly with BAO_ADDR and BAO_TOKEN.',
    })
  }
  return {name: m[1]!, namespace: m[3]!, port: m[7] ? Number(m[7]) : 443}
}

/**
 * Pure: the migrator's policy (create, read, update on exactly the data paths the plan's active
 * workloads read, for the check-and-set writes and the read-back of `?version=N`; read on their
 * metadata, for --check and finalize) and its role, bound to the migrator ServiceAccount of the
 * broker's namespace. No list, no delete, nothing outside the plan.
 */
export function migratorAccess(plan: MigrationPlan, owner: string): {policy: DesiredPolicy; role: DesiredRole} {
  const {namespace} = brokerServiceOf(plan)
  const rules = new Map<string, PolicyRule>()
  for (const t of plan.tenants) {
    for (const w of activeWorkloads(t)) {
      w.secrets.forEach((s, i) => {
        const p = plannedSecret(plan, s, `tenant ${t.name}, ${w.kind}/${w.name}, secret ${i}`)
        rules.set(p.vaultPath, {path: p.vaultPath, capabilities: ['create', 'read', 'update']})
        rules.set(`${p.mount}/metadata/${p.path}`, {path: `${p.mount}/metadata/${p.path}`, capabilities: ['read']})
      })
    }
  }
  const comment = [
    `subject system:serviceaccount:${namespace}:${MIGRATOR_SERVICE_ACCOUNT}`,
    '`target migrate --via-broker`: write the plan\'s values (check-and-set) and read them back, on exactly the plan\'s paths. Written by `cloudtaser source apply-plan --allow-cluster-migrate`.',
  ]
  return {
    policy: {name: MIGRATOR_ROLE, text: renderPolicy(owner, comment, [...rules.values()].sort((a, b) => (a.path < b.path ? -1 : 1)))},
    role: {
      name: MIGRATOR_ROLE,
      spec: {
        bound_service_account_names: [MIGRATOR_SERVICE_ACCOUNT],
        bound_service_account_namespaces: [namespace],
        token_policies: [MIGRATOR_ROLE],
        token_ttl: MIGRATOR_TTLS.tokenTtl,
        token_max_ttl: MIGRATOR_TTLS.tokenMaxTtl,
      },
    },
  }
}

/**
 * apply-plan without `--allow-cluster-migrate`: the migrator's role and policy, if this plan wrote
 * them, are deleted (role first, so no role names a missing policy). Access for the cluster side
 * lasts exactly as long as the reviewed command line asks for it. Nothing else is touched: a
 * policy of that name owned by someone else, or a tenant's of the same name, stays.
 */
export async function staleMigrator(client: OpenBaoClient, set: ManagedSet): Promise<Action[]> {
  if (set.policies.some((p) => p.name === MIGRATOR_ROLE) || set.roles.some((r) => r.name === MIGRATOR_ROLE)) return []
  // A token that may not read it cannot have written it: nothing to take back then.
  const read = await client.call<{data?: {policy?: string}}>('GET', `sys/policies/acl/${MIGRATOR_ROLE}`, {accept: [403, 404]})
  const text = read.status === 200 ? read.body?.data?.policy : undefined
  const owner = text === undefined ? undefined : ownershipOf(text)
  if (!owner?.managed || owner.owner !== set.owner) return []
  const reason = 'no --allow-cluster-migrate: the cluster side may no longer write the plan\'s paths'
  const actions: Action[] = []
  const role = await client.call<{data?: {token_policies?: string[]}}>('GET', `auth/${set.authMount}/role/${MIGRATOR_ROLE}`, {accept: [404]})
  const policies = role.status === 200 ? (role.body?.data?.token_policies ?? []) : []
  if (policies.length === 1 && policies[0] === MIGRATOR_ROLE) actions.push({resource: 'role', name: MIGRATOR_ROLE, kind: 'delete', reason})
  actions.push({resource: 'policy', name: MIGRATOR_ROLE, kind: 'delete', reason})
  return actions
}

export async function deleteMigrator(client: OpenBaoClient, authMount: string, actions: readonly Action[]): Promise<void> {
  for (const a of actions) {
    if (a.kind !== 'delete') continue
    if (a.resource === 'role') await client.call('DELETE', `auth/${authMount}/role/${a.name}`)
    else if (a.resource === 'policy') await client.call('DELETE', `sys/policies/acl/${a.name}`)
  }
}
