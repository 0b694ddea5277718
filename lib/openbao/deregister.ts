import {summarize, type Action, type ActionSummary} from './actions.js'
import type {ClientStats, OpenBaoClient} from './client.js'
import type {ClusterIdentity} from './cluster-identity.js'
import {ownershipOf} from './policy.js'
import {mountIsOurs} from './register.js'
import {bridgeOwner, caPath, kvMetadata, observeRegistration, PARENT_NAMESPACE, registrationLayout, type Observed, type RegistrationLayout} from './registration.js'

export interface DeregisterOptions {
  dryRun?: boolean
  /** Also the cluster's namespace (with everything in it) or, with --no-namespace, its mount, CA and bridge policy. */
  purge?: boolean
  namespaces?: boolean
}

/**
 * Pure. Without --purge only the two records go: the bridge then refuses the cluster (not
 * registered), and a later register makes a fresh CA. Objects that are already gone are
 * `unchanged`; objects cloudtaser did not make for this cluster are conflicts and stop the run.
 */
export function planDeregister(l: RegistrationLayout, o: Observed, options: {purge?: boolean} = {}): Action[] {
  const actions: Action[] = []
  const add = (resource: Action['resource'], name: string, kind: Action['kind'], reason?: string) => actions.push({resource, name, kind, ...(reason ? {reason} : {})})
  const where = (path: string) => `${l.prefix}${l.mount}/${path}`
  const gone = 'not there'
  const nsConflict = l.namespace && o.clusterNamespace && (!o.clusterNamespace.managed || o.clusterNamespace.fingerprint !== l.fingerprint)
  if (nsConflict) {
    add('bao-namespace', l.namespace!, 'conflict', o.clusterNamespace!.managed ? `belongs to cluster ${o.clusterNamespace!.fingerprint ?? '?'}` : 'was not created by cloudtaser')
    return actions
  }
  add('record', where(l.paths.registered), o.registeredVersion > 0 ? 'delete' : 'unchanged', o.registeredVersion > 0 ? undefined : gone)
  add('record', where(l.paths.initialized), o.initialized ? 'delete' : 'unchanged', o.initialized ? undefined : gone)
  if (!options.purge) return actions
  if (l.namespace) {
    if (!o.clusterNamespace) add('bao-namespace', l.namespace, 'unchanged', gone)
    else if (o.clusterNamespace.tainted) add('bao-namespace', l.namespace, 'unchanged', 'already being deleted')
    else add('bao-namespace', l.namespace, 'delete', `with its mount ${l.mount}, the CA and policy ${l.policy}; ${PARENT_NAMESPACE}/ stays for other clusters`)
    return actions
  }
  if (o.cas.length === 0) add('ca', where(l.paths.ca), 'unchanged', gone)
  for (const c of o.cas) add('ca', where(caPath(l, c.sha256)), 'delete', 'certificate and private key, all versions')
  if (o.policy === undefined) add('policy', l.policy, 'unchanged', gone)
  else {
    const owner = ownershipOf(o.policy)
    add('policy', l.policy, owner.managed && owner.owner === bridgeOwner(l) ? 'delete' : 'conflict', owner.managed && owner.owner === bridgeOwner(l) ? undefined : 'was not written by cloudtaser for this cluster')
  }
  if (!o.mount) add('kv-mount', l.mount, 'unchanged', gone)
  else add('kv-mount', l.mount, mountIsOurs(l, o) ? 'delete' : 'conflict', mountIsOurs(l, o) ? 'and everything left in it' : 'was not created by cloudtaser for this cluster')
  return actions
}

export interface DeregisterResult {
  fingerprint: string
  fingerprintFrom: ClusterIdentity['from']
  dryRun: boolean
  purge: boolean
  namespace?: string
  mount: string
  actions: Action[]
  summary: ActionSummary
  refused: boolean
  requests: ClientStats
  ms: number
}

export async function deregisterCluster(client: OpenBaoClient, cluster: ClusterIdentity, options: DeregisterOptions = {}): Promise<DeregisterResult> {
  const t0 = performance.now()
  const l = registrationLayout(cluster.fingerprint, {namespaces: options.namespaces !== false})
  const observed = await observeRegistration(client, l)
  const actions = planDeregister(l, observed, {purge: options.purge})
  const summary = {delete: 0, ...summarize(actions)}
  const refused = summary.conflict > 0
  if (!options.dryRun && !refused) await executeDeregister(client, l, actions)
  return {
    fingerprint: l.fingerprint,
    fingerprintFrom: cluster.from,
    dryRun: Boolean(options.dryRun),
    purge: Boolean(options.purge),
    namespace: l.namespace,
    mount: l.mount,
    actions,
    summary,
    refused,
    requests: structuredClone(client.stats),
    ms: Math.round(performance.now() - t0),
  }
}

/** Records first (the bridge stops accepting the cluster at once), then what --purge removes. */
export async function executeDeregister(client: OpenBaoClient, l: RegistrationLayout, actions: readonly Action[]): Promise<void> {
  const del = (resource: Action['resource'], name: string) => actions.some((a) => a.resource === resource && a.name === name && a.kind === 'delete')
  const where = (path: string) => `${l.prefix}${l.mount}/${path}`
  if (del('record', where(l.paths.registered))) await client.call('DELETE', kvMetadata(l, l.paths.registered))
  if (del('record', where(l.paths.initialized))) await client.call('DELETE', kvMetadata(l, l.paths.initialized))
  if (l.namespace) {
    // Asynchronous in OpenBao: the namespace shows `tainted` until its contents are gone.
    if (del('bao-namespace', l.namespace)) await client.call('DELETE', `${PARENT_NAMESPACE}/sys/namespaces/${l.id}`)
    return
  }
  for (const a of actions) if (a.resource === 'ca' && a.kind === 'delete') await client.call('DELETE', kvMetadata(l, a.name.slice(where('').length)))
  if (del('policy', l.policy)) await client.call('DELETE', `sys/policies/acl/${l.policy}`)
  if (del('kv-mount', l.mount)) await client.call('DELETE', `sys/mounts/${l.mount}`)
}
