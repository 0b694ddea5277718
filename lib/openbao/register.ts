import {currentActor} from '../actor.js'
import {CloudtaserError, ExitCode} from '../errors.js'
import {summarize, type Action, type ActionSummary} from './actions.js'
import type {ClientStats, OpenBaoClient} from './client.js'
import {baoError} from './errors.js'
import {generateClusterCa, privateKeyPemBytes} from './cluster-ca.js'
import type {ClusterIdentity} from './cluster-identity.js'
import {ownershipOf, samePolicyText} from './policy.js'
import {
  bridgeOwner,
  bridgePolicy,
  caPath,
  initHashHex,
  kvData,
  kvMetadata,
  MARKER,
  observeRegistration,
  PARENT_NAMESPACE,
  registrationLayout,
  type Observed,
  type RegistrationLayout,
  type RegistrationRecord,
} from './registration.js'

export interface RegisterOptions {
  dryRun?: boolean
  /** Replace the CA of an existing registration; the cluster must bootstrap again. */
  rotateCa?: boolean
  /** False: --no-namespace (a per-cluster mount in the token's namespace). */
  namespaces?: boolean
  actor?: string
  now?: Date
  /** Reverse-connect endpoint to record (host:port); null removes it (back to the beacon); undefined keeps what is there. */
  reverseEndpoint?: string | null
}

/** The new CA's name is its certificate's hash, known only once it is made. */
export const NEW_CA = '<new>'

const kvMountDescription = (l: RegistrationLayout) => `cloudtaser: registration and bridge CA of cluster ${l.fingerprint}`

/** The namespace (or, with --no-namespace, the mount) is ours for this cluster. */
export function mountIsOurs(l: RegistrationLayout, o: Observed): boolean {
  return l.namespace ? o.clusterNamespace?.managed === true && o.clusterNamespace.fingerprint === l.fingerprint : o.mount?.description === kvMountDescription(l)
}

/**
 * Pure: what register must do, given what exists. Never re-keys a registration on its own: the CA
 * a live registration points at is only replaced with --rotate-ca. A CA without a live
 * registration (an interrupted run, or a deregistered cluster) was never handed out and is
 * removed, so a re-registered cluster always bootstraps with fresh trust.
 */
export function planRegister(l: RegistrationLayout, o: Observed, options: {rotateCa?: boolean; reverseEndpoint?: string | null} = {}): Action[] {
  const actions: Action[] = []
  const add = (resource: Action['resource'], name: string, kind: Action['kind'], reason?: string, changes?: string[]) =>
    actions.push({resource, name, kind, ...(reason ? {reason} : {}), ...(changes ? {changes} : {})})
  const where = (path: string) => `${l.prefix}${l.mount}/${path}`

  if (l.namespace) {
    add('bao-namespace', PARENT_NAMESPACE, o.parentNamespace ? 'unchanged' : 'create')
    const ns = o.clusterNamespace
    if (!ns) add('bao-namespace', l.namespace, 'create', `for cluster ${l.fingerprint}`)
    else if (ns.tainted) add('bao-namespace', l.namespace, 'conflict', 'is being created or deleted (another run, or an earlier --purge); run register again in a moment')
    else if (!ns.managed) add('bao-namespace', l.namespace, 'conflict', 'exists and was not created by cloudtaser; remove it or use --no-namespace')
    else if (ns.fingerprint !== l.fingerprint)
      add('bao-namespace', l.namespace, 'conflict', `belongs to cluster ${ns.fingerprint ?? '?'} (same first 8 hex digits); register this one with --no-namespace`)
    else add('bao-namespace', l.namespace, 'unchanged')
  }

  if (!o.mount) add('kv-mount', `${l.prefix}${l.mount}`, 'create', 'KV version 2')
  else if (o.mount.type !== 'kv' || o.mount.version !== '2') add('kv-mount', `${l.prefix}${l.mount}`, 'conflict', `is a ${o.mount.type}${o.mount.version ? ` v${o.mount.version}` : ''} mount, not KV version 2`)
  else if (!l.namespace && !mountIsOurs(l, o)) add('kv-mount', `${l.prefix}${l.mount}`, 'conflict', 'exists and was not created by cloudtaser for this cluster')
  else add('kv-mount', `${l.prefix}${l.mount}`, 'unchanged')

  const reg = o.registered
  const regIntact = reg !== undefined && reg.fingerprint === l.fingerprint && reg.initInfoHash === initHashHex(l.fingerprint)
  const current = reg?.caCertSha256 === undefined ? undefined : o.cas.find((c) => c.sha256 === reg.caCertSha256 && c.live)
  const newCa = !reg || (options.rotateCa && regIntact)
  if (!reg) add('ca', `${where(l.paths.ca)}/${NEW_CA}`, 'create')
  else if (!regIntact) add('ca', `${where(l.paths.ca)}/${NEW_CA}`, 'conflict', 'the registration record is not this cluster\'s; deregister first')
  else if (options.rotateCa) add('ca', `${where(l.paths.ca)}/${NEW_CA}`, 'create', 'rotated (--rotate-ca): the cluster must bootstrap again')
  else if (!current) add('ca', where(caPath(l, reg.caCertSha256 ?? '?')), 'conflict', 'the registration\'s CA is missing; --rotate-ca makes a new one')
  else add('ca', where(caPath(l, current.sha256)), 'unchanged')
  // Every other CA entry was never handed out (interrupted or losing concurrent run, or a
  // deregistered cluster's), or is the one --rotate-ca replaces: deleted once the record is written.
  for (const c of o.cas) {
    if (!newCa && c.sha256 === current?.sha256) continue
    if (reg && !regIntact) continue
    const why = reg && c.sha256 === reg.caCertSha256 ? 'replaced by the new CA' : 'no registration uses it (interrupted run, or deregistered)'
    add('ca', where(caPath(l, c.sha256)), 'delete', why)
  }

  const text = bridgePolicy(l)
  if (o.policy === undefined) add('policy', l.policy, 'create', 'read registration and CA, create initialized')
  else if (samePolicyText(o.policy, text)) add('policy', l.policy, 'unchanged')
  else {
    const owner = ownershipOf(o.policy)
    if (owner.managed && owner.owner === bridgeOwner(l)) add('policy', l.policy, 'update', 'paths differ')
    else add('policy', l.policy, 'conflict', owner.managed ? `managed by cloudtaser for ${owner.owner}` : 'exists and was not created by cloudtaser')
  }

  if (!reg) add('record', where(l.paths.registered), 'create', options.reverseEndpoint ? `reverse-connect endpoint ${options.reverseEndpoint}` : undefined)
  else if (!regIntact) add('record', where(l.paths.registered), 'conflict', 'exists with another fingerprint or init hash; deregister first')
  else {
    const endpointChanges = options.reverseEndpoint !== undefined && (options.reverseEndpoint ?? undefined) !== reg.reverseEndpoint
    const endpoint = endpointChanges ? [options.reverseEndpoint ? `reverse-connect endpoint ${options.reverseEndpoint}` : 'reverse-connect endpoint removed (the beacon again)'] : []
    if (options.rotateCa) add('record', where(l.paths.registered), 'update', ['new CA, initialized=false', ...endpoint].join('; '), ['caCertificate', 'caCertSha256', 'operationalInfoHash', 'initialized', ...(endpointChanges ? ['reverseEndpoint'] : [])])
    else if (endpointChanges) add('record', where(l.paths.registered), 'update', endpoint[0], ['reverseEndpoint'])
    else add('record', where(l.paths.registered), 'unchanged')
  }
  if (options.rotateCa && regIntact && o.initialized) add('record', where(l.paths.initialized), 'delete', 'the cluster bootstraps again with the new CA')
  // Left by an earlier registration (an interrupted deregister, a hand-deleted record): it would
  // make the bridge refuse the new registration's one bootstrap.
  if (!reg && o.initialized) add('record', where(l.paths.initialized), 'delete', 'left from an earlier registration')
  return actions
}

export interface RegisterResult {
  fingerprint: string
  clusterName?: string
  fingerprintFrom: ClusterIdentity['from']
  dryRun: boolean
  rotateCa: boolean
  namespace?: string
  mount: string
  policy: string
  paths: {registered: string; initialized: string; ca: string}
  actions: Action[]
  summary: ActionSummary
  refused: boolean
  /** Hex. operationalInfoHash is null in a dry run that would create the CA (it does not exist yet). */
  infoHashes: {init: string; operational: string | null}
  caCertSha256: string | null
  registeredAt?: string
  registeredBy?: string
  /** Reverse-connect: where the bridge dials the broker (absent: through the beacon). */
  reverseEndpoint?: string
  requests: ClientStats
  ms: number
}

export async function registerCluster(client: OpenBaoClient, cluster: ClusterIdentity, options: RegisterOptions = {}): Promise<RegisterResult> {
  const t0 = performance.now()
  const l = registrationLayout(cluster.fingerprint, {namespaces: options.namespaces !== false, clusterName: cluster.name})
  const observed = await observeRegistration(client, l)
  const planned = planRegister(l, observed, {rotateCa: options.rotateCa, reverseEndpoint: options.reverseEndpoint})
  const summary = summarize(planned)
  const refused = summary.conflict > 0
  let record: Partial<RegistrationRecord> | undefined = observed.registered
  let actions = planned
  if (!options.dryRun && !refused) {
    const written = await executeRegister(client, l, observed, planned, options)
    record = written ?? record
    // Once made, the new CA has its name.
    if (written) actions = planned.map((a) => (a.name.endsWith(`/${NEW_CA}`) && a.kind === 'create' ? {...a, name: `${l.prefix}${l.mount}/${caPath(l, written.caCertSha256)}`} : a))
  }
  const caChanges = actions.some((a) => a.resource === 'ca' && a.kind === 'create')
  const operational = (options.dryRun || refused) && caChanges ? null : (record?.operationalInfoHash ?? null)
  return {
    fingerprint: l.fingerprint,
    clusterName: l.clusterName,
    fingerprintFrom: cluster.from,
    dryRun: Boolean(options.dryRun),
    rotateCa: Boolean(options.rotateCa),
    namespace: l.namespace,
    mount: l.mount,
    policy: l.policy,
    paths: {registered: kvData(l, l.paths.registered), initialized: kvData(l, l.paths.initialized), ca: kvData(l, l.paths.ca)},
    actions,
    summary,
    refused,
    infoHashes: {init: initHashHex(l.fingerprint), operational},
    caCertSha256: operational,
    registeredAt: record?.registeredAt,
    registeredBy: record?.registeredBy,
    reverseEndpoint: options.dryRun || refused ? (options.reverseEndpoint === undefined ? record?.reverseEndpoint : (options.reverseEndpoint ?? undefined)) : record?.reverseEndpoint,
    requests: structuredClone(client.stats),
    ms: Math.round(performance.now() - t0),
  }
}

/**
 * Applies the actions in dependency order: namespaces, mount, CA, policy, and the registration
 * record last, so the bridge never sees a registration whose CA is not there yet. KV writes use
 * check-and-set against the version observed, so two concurrent runs cannot both key a cluster.
 * Returns the record written, if one was.
 */
export async function executeRegister(client: OpenBaoClient, l: RegistrationLayout, o: Observed, actions: readonly Action[], options: RegisterOptions): Promise<RegistrationRecord | undefined> {
  const doing = (resource: Action['resource'], name?: string) =>
    actions.some((a) => a.resource === resource && (name === undefined || a.name === name) && (a.kind === 'create' || a.kind === 'update' || a.kind === 'delete'))
  if (l.namespace) {
    // The parent is shared: another cluster's register creating it at the same moment is fine.
    if (doing('bao-namespace', PARENT_NAMESPACE)) await createOnce(client, `sys/namespaces/${PARENT_NAMESPACE}`, {custom_metadata: {[MARKER.key]: MARKER.value}}, true)
    if (doing('bao-namespace', l.namespace)) {
      await createOnce(client, `${PARENT_NAMESPACE}/sys/namespaces/${l.id}`, {custom_metadata: {[MARKER.key]: MARKER.value, 'cluster-fingerprint': l.fingerprint}})
    }
  }
  if (doing('kv-mount')) await createOnce(client, `${l.prefix}sys/mounts/${l.mount}`, {type: 'kv', options: {version: '2'}, description: kvMountDescription(l)})

  let record: RegistrationRecord | undefined
  const creates = actions.find((a) => a.resource === 'ca' && a.kind === 'create')
  let made: string | undefined
  if (creates) {
    const ca = generateClusterCa(`cloudtaser cluster CA ${l.id}`, undefined, options.now)
    const key = privateKeyPemBytes(ca.privateKey)
    const body = jsonWithSecret(`{"options":{"cas":0},"data":{"certificate":${JSON.stringify(ca.certPem)},"private_key":"`, key, '"}}')
    key.fill(0)
    try {
      await casWrite(client, kvData(l, caPath(l, ca.certSha256)), {rawBody: body})
    } finally {
      body.fill(0)
    }
    made = ca.certSha256
    record = {
      fingerprint: l.fingerprint,
      ...(l.clusterName ? {clusterName: l.clusterName} : {}),
      registeredAt: (options.now ?? new Date()).toISOString(),
      registeredBy: options.actor ?? currentActor(),
      caCertificate: ca.certPem,
      caCertSha256: ca.certSha256,
      caNotAfter: ca.notAfter,
      initInfoHash: initHashHex(l.fingerprint),
      operationalInfoHash: ca.certSha256,
      initialized: false,
      ...(l.namespace ? {namespace: l.namespace} : {}),
      mount: l.mount,
      bridgePolicy: l.policy,
      layoutVersion: 1,
      ...withEndpoint(options.reverseEndpoint === undefined ? o.registered?.reverseEndpoint : options.reverseEndpoint),
    }
  } else if (o.registered && doing('record', `${l.prefix}${l.mount}/${l.paths.registered}`)) {
    // Only the endpoint changes: the rest of the record as read, written back with check-and-set.
    const {reverseEndpoint: _old, ...rest} = o.registered as RegistrationRecord
    record = {...rest, ...withEndpoint(options.reverseEndpoint)}
  }
  if (doing('policy')) await client.write(`${l.prefix}sys/policies/acl/${l.policy}`, {policy: bridgePolicy(l)}, 'PUT')
  if (record && doing('record', `${l.prefix}${l.mount}/${l.paths.registered}`)) {
    try {
      await casWrite(client, kvData(l, l.paths.registered), {body: {options: {cas: o.registeredVersion}, data: record}})
    } catch (err) {
      // Lost to a concurrent run: its record points at its own CA; ours was never used.
      if (made) await client.call('DELETE', kvMetadata(l, caPath(l, made)), {accept: [404]}).catch(() => {})
      throw err
    }
  }
  for (const a of actions) {
    if (a.resource === 'ca' && a.kind === 'delete') await client.call('DELETE', kvMetadata(l, a.name.slice(`${l.prefix}${l.mount}/`.length)), {accept: [404]})
  }
  if (doing('record', `${l.prefix}${l.mount}/${l.paths.initialized}`)) await client.call('DELETE', kvMetadata(l, l.paths.initialized))
  return record
}

const withEndpoint = (e: string | null | undefined) => (e ? {reverseEndpoint: e} : {})

const raced = (path: string, detail: string) =>
  new CloudtaserError('REGISTER_RACE', `${path} changed while register ran (${detail}); another register or the bridge wrote it`, {
    exitCode: ExitCode.CONFLICT,
    hint: 'Run register again: it reads the new state and reports what is left to do.',
  })

/** A KV v2 check-and-set write; losing the race to another run is a conflict, not a failure. */
async function casWrite(client: OpenBaoClient, path: string, body: {body?: unknown; rawBody?: Buffer}): Promise<void> {
  const r = await client.call<{errors?: string[]}>('POST', path, {...body, accept: [400]})
  if (r.status === 400) {
    const detail = r.body?.errors?.join('; ') ?? ''
    if (/check-and-set/.test(detail)) throw raced(path, detail)
    throw baoError.request(`POST ${path}`, 400, detail)
  }
}

/** Creates a namespace or mount that was observed absent; one created meanwhile by a concurrent run is a race (or, when `shared`, fine). */
async function createOnce(client: OpenBaoClient, path: string, body: unknown, shared = false): Promise<void> {
  const r = await client.call<{errors?: string[]}>('POST', path, {body, accept: [400]})
  if (r.status !== 400) return
  const detail = r.body?.errors?.join('; ') ?? ''
  if (/exists|already in use/.test(detail)) {
    if (shared) return
    throw raced(path, detail)
  }
  throw baoError.request(`POST ${path}`, 400, detail)
}

/** `prefix` + the secret with JSON's two escapes it can need (newline, quote/backslash never occur in PEM) + `suffix`, as bytes. */
function jsonWithSecret(prefix: string, secret: Buffer, suffix: string): Buffer {
  let newlines = 0
  for (const b of secret) if (b === 0x0a) newlines++
  const head = Buffer.from(prefix)
  const tail = Buffer.from(suffix)
  const out = Buffer.allocUnsafeSlow(head.length + secret.length + newlines + tail.length)
  let o = head.copy(out, 0)
  for (const b of secret) {
    if (b === 0x0a) {
      out[o++] = 0x5c
      out[o++] = 0x6e
    } else out[o++] = b
  }
  tail.copy(out, o)
  return out
}
