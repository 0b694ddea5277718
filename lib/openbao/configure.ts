import {summarize, type Action, type ActionSummary} from './actions.js'
import type {ClientStats, OpenBaoClient} from './client.js'
import {detectKvMount, type KvMountInfo} from './kv.js'
import {executeManaged, observeManaged, planManaged, type ManagedSet} from './managed.js'
import {renderPolicy} from './policy.js'

export interface OperatorAccess {
  kvMount: string
  authMount: string
  namespace: string
  serviceAccount: string
  /** Policy and role name. */
  name: string
  tokenTtl: number
  tokenMaxTtl: number
}

export const OPERATOR_DEFAULTS: OperatorAccess = {
  kvMount: 'secret',
  authMount: 'kubernetes',
  namespace: 'cloudtaser-system',
  serviceAccount: 'cloudtaser-operator',
  name: 'cloudtaser-operator',
  tokenTtl: 60 * 60,
  tokenMaxTtl: 24 * 60 * 60,
}

/**
 * Pure: the operator keeps its own credentials (webhook TLS, broker certificates) under
 * `<kv>/cloudtaser/system/*` instead of Kubernetes Secrets. Least privilege, as the operator
 * uses it: create/read/update on that prefix's data (check-and-set writes of new versions) and
 * read on its metadata (polling the current version, which carries no secret bytes); no delete,
 * no list, nothing outside the prefix, so no tenant secret. A role for the operator's
 * ServiceAccount only.
 */
export function operatorSet(o: OperatorAccess): ManagedSet {
  const policy = renderPolicy('component=operator', ['The cloudtaser operator\'s own secrets. Written by `cloudtaser source configure`.'], [
    {path: `${o.kvMount}/data/cloudtaser/system/*`, capabilities: ['create', 'read', 'update']},
    {path: `${o.kvMount}/metadata/cloudtaser/system/*`, capabilities: ['read']},
  ])
  return {
    owner: 'component=operator',
    authMount: o.authMount,
    policies: [{name: o.name, text: policy}],
    roles: [
      {
        name: o.name,
        spec: {
          bound_service_account_names: [o.serviceAccount],
          bound_service_account_namespaces: [o.namespace],
          token_policies: [o.name],
          token_ttl: o.tokenTtl,
          token_max_ttl: o.tokenMaxTtl,
        },
      },
    ],
  }
}

export interface ConfigureResult {
  dryRun: boolean
  force: boolean
  kvMount: KvMountInfo
  authMount: string
  actions: Action[]
  summary: ActionSummary
  refused: boolean
  requests: ClientStats
}

export async function configureOperator(client: OpenBaoClient, o: OperatorAccess, options: {dryRun?: boolean; force?: boolean} = {}): Promise<ConfigureResult> {
  const set = operatorSet(o)
  const kvMount = await detectKvMount(client, o.kvMount)
  const observed = await observeManaged(client, set)
  const actions = planManaged(set, observed, {force: options.force})
  const summary = summarize(actions)
  const refused = summary.conflict > 0
  if (!options.dryRun && !refused) await executeManaged(client, set, actions, observed.authType)
  return {dryRun: Boolean(options.dryRun), force: Boolean(options.force), kvMount, authMount: o.authMount, actions, summary, refused, requests: structuredClone(client.stats)}
}
