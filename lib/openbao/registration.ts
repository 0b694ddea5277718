import {initInfoHash} from '../infohash.js'
import {CloudtaserError, ExitCode} from '../errors.js'
import type {OpenBaoClient} from './client.js'
import {shortId} from './cluster-identity.js'
import {renderPolicy} from './policy.js'

/**
 * Where a cluster's registration lives in OpenBao (docs/register.md). One layout for both modes;
 * only the prefix and the mount name differ:
 *
 *   namespace mode     <token ns>/cloudtaser/<id>/  mount `cloudtaser`
 *   --no-namespace     <token ns>/                  mount `cloudtaser-<id>`
 *
 * and inside the mount `clusters/<fp>/registered` (public record), `clusters/<fp>/initialized`
 * (written once by the bridge) and `system/<fp>/ca/<sha256 of the CA certificate>` (certificate
 * and private key). Naming each CA by its hash means no write ever replaces a CA in place: a
 * registration points at exactly one, and two racing runs cannot leave it pointing at the
 * other's key.
 */
export const PARENT_NAMESPACE = 'cloudtaser'
export const MARKER = {key: 'managed-by', value: 'cloudtaser'} as const

export interface RegistrationLayout {
  fingerprint: string
  id: string
  clusterName?: string
  /** `cloudtaser/<id>` relative to the token's namespace, or undefined with --no-namespace. */
  namespace?: string
  /** API path prefix: `cloudtaser/<id>/` or ''. */
  prefix: string
  mount: string
  policy: string
  /** `ca` is a directory: one entry per CA, named by its certificate's SHA-256. */
  paths: {registered: string; initialized: string; ca: string}
}

export function registrationLayout(fingerprint: string, options: {namespaces: boolean; clusterName?: string}): RegistrationLayout {
  const id = shortId(fingerprint)
  const namespace = options.namespaces ? `${PARENT_NAMESPACE}/${id}` : undefined
  return {
    fingerprint,
    id,
    clusterName: options.clusterName,
    namespace,
    prefix: namespace ? `${namespace}/` : '',
    mount: namespace ? 'cloudtaser' : `cloudtaser-${id}`,
    policy: `cloudtaser-bridge-${id}`,
    paths: {registered: `clusters/${fingerprint}/registered`, initialized: `clusters/${fingerprint}/initialized`, ca: `system/${fingerprint}/ca`},
  }
}

export const caPath = (l: RegistrationLayout, sha256: string) => `${l.paths.ca}/${sha256}`

/** Full API paths (namespace prefix included), as they appear in errors and in the bridge policy's terms. */
export const kvData = (l: RegistrationLayout, path: string) => `${l.prefix}${l.mount}/data/${path}`
export const kvMetadata = (l: RegistrationLayout, path: string) => `${l.prefix}${l.mount}/metadata/${path}`

export const bridgeOwner = (l: RegistrationLayout) => `component=bridge cluster=${l.fingerprint}`

/**
 * What the future bridge may do for this cluster, and nothing else: read the registration and
 * the CA (to sign the operator's CSR and its own serving certificate), and create the
 * initialized record, once. It cannot change or delete the registration. Paths are relative to
 * the namespace the policy lives in. Depends on the fingerprint only (not on the cluster name a
 * plan may add), so registering by --fingerprint or by --plan gives the same text.
 */
export function bridgePolicy(l: RegistrationLayout): string {
  return renderPolicy(bridgeOwner(l), [`The cloudtaser bridge for cluster ${l.fingerprint}. Written by \`cloudtaser source register\`.`], [
    {path: `${l.mount}/data/${l.paths.registered}`, capabilities: ['read']},
    {path: `${l.mount}/data/${l.paths.ca}/*`, capabilities: ['read']},
    {path: `${l.mount}/data/${l.paths.initialized}`, capabilities: ['create', 'read']},
  ])
}

/** The public registration record. No secret in it: the CA certificate, hashes and provenance. */
export interface RegistrationRecord {
  fingerprint: string
  clusterName?: string
  registeredAt: string
  registeredBy: string
  caCertificate: string
  caCertSha256: string
  caNotAfter: string
  /** Hex SHA-256("cloudtaser-init:" + fingerprint): the beacon room of the one-time bootstrap. */
  initInfoHash: string
  /** Hex SHA-256(CA certificate DER): the beacon room of day-2 mTLS. Equal to caCertSha256 by definition. */
  operationalInfoHash: string
  /** False at registration; the bridge never edits this record but creates clusters/<fp>/initialized. */
  initialized: boolean
  namespace?: string
  mount: string
  bridgePolicy: string
  layoutVersion: 1
  /** Reverse-connect: host:port of the broker's external endpoint, which the bridge dials instead of the beacon. */
  reverseEndpoint?: string
}

export const initHashHex = (fingerprint: string) => initInfoHash(fingerprint).toString('hex')

export interface Observed {
  /** Namespace mode only. */
  parentNamespace?: boolean
  clusterNamespace?: {fingerprint?: string; managed: boolean; tainted: boolean}
  mount?: {type: string; version?: string; description?: string}
  /** CA entries under system/<fp>/ca/, by certificate hash; live = current version neither deleted nor destroyed. */
  cas: {sha256: string; live: boolean}[]
  policy?: string
  /** KV current_version of the registration path (0: never written), even when that version is deleted. */
  registeredVersion: number
  /** The live record, if any. */
  registered?: Partial<RegistrationRecord>
  initialized?: {version: number}
}

/**
 * How a server without namespaces answers GET sys/namespaces/<name>: 404 with "unsupported path"
 * (Vault CE, OpenBao before namespaces) or "no handler for route". A missing namespace on a server
 * that has them is a 404 with an empty error list.
 */
export const namespacesUnsupported = (status: number, errors: unknown): boolean =>
  status === 404 && Array.isArray(errors) && errors.some((e) => /unsupported path|no handler for route/.test(String(e)))

export const registerError = {
  namespacesUnsupported: (addr: string) =>
    new CloudtaserError('BAO_NAMESPACES_UNSUPPORTED', `OpenBao at ${addr} does not support namespaces (sys/namespaces is not a route there)`, {
      exitCode: ExitCode.CONFIG,
      hint: 'Run again with --no-namespace: the cluster then gets its own KV mount cloudtaser-<id> instead of its own namespace.',
    }),
}

interface NamespaceRead {
  data?: {custom_metadata?: Record<string, string> | null; tainted?: boolean}
  errors?: unknown
}

/**
 * Reads what exists, without ever reading a CA's private key: CAs are listed by name (their
 * certificate hash) and judged by KV metadata, the registration by its public record. Inside a namespace or mount that does not exist nothing more is asked.
 */
export async function observeRegistration(client: OpenBaoClient, l: RegistrationLayout): Promise<Observed> {
  const o: Observed = {registeredVersion: 0, cas: []}
  if (l.namespace) {
    const parent = await client.call<NamespaceRead>('GET', `sys/namespaces/${PARENT_NAMESPACE}`, {accept: [404]})
    if (namespacesUnsupported(parent.status, parent.body?.errors)) throw registerError.namespacesUnsupported(client.addr)
    o.parentNamespace = parent.status === 200
    if (!o.parentNamespace) return o
    const ns = await client.call<NamespaceRead>('GET', `${PARENT_NAMESPACE}/sys/namespaces/${l.id}`, {accept: [404]})
    if (ns.status === 404) return o
    const meta = ns.body?.data?.custom_metadata ?? {}
    o.clusterNamespace = {fingerprint: meta['cluster-fingerprint'], managed: meta[MARKER.key] === MARKER.value, tainted: Boolean(ns.body?.data?.tainted)}
    if (o.clusterNamespace.tainted) return o
  }
  type MountRead = {type?: string; options?: {version?: string} | null; description?: string}
  const mount = await client.call<MountRead & {data?: MountRead}>('GET', `${l.prefix}sys/mounts/${l.mount}`, {accept: [400]})
  // Answered bare in the root namespace and wrapped in `data` inside a child namespace.
  const m = mount.body?.data ?? mount.body
  if (mount.status === 200) o.mount = {type: m?.type ?? 'unknown', version: m?.options?.version ?? undefined, description: m?.description}
  // The policy is read after the registration record: register writes it before the record, so a
  // run that sees another's record also sees its policy (read in the other order, a concurrent
  // run could see the record but not the policy, and write the policy again).
  const readPolicy = async () => {
    const policy = await client.read<{data?: {policy?: string}}>(`${l.prefix}sys/policies/acl/${l.policy}`)
    if (policy?.data?.policy !== undefined) o.policy = policy.data.policy
    return o
  }
  if (o.mount?.type !== 'kv' || o.mount.version !== '2') return readPolicy()

  type Meta = {data?: {current_version?: number; custom_metadata?: Record<string, string> | null; versions?: Record<string, {deletion_time?: string; destroyed?: boolean}>}}
  const listed = await client.call<{data?: {keys?: string[]}}>('GET', kvMetadata(l, l.paths.ca), {query: {list: 'true'}, accept: [404]})
  for (const sha256 of (listed.body?.data?.keys ?? []).filter((k) => !k.endsWith('/')).sort()) {
    const m = await client.read<Meta>(kvMetadata(l, caPath(l, sha256)))
    const v = m?.data?.versions?.[String(m.data.current_version ?? 0)]
    o.cas.push({sha256, live: Boolean(m?.data?.current_version) && !v?.deletion_time && !v?.destroyed})
  }
  const regMeta = await client.read<Meta>(kvMetadata(l, l.paths.registered))
  o.registeredVersion = regMeta?.data?.current_version ?? 0
  if (o.registeredVersion > 0) {
    const reg = await client.read<{data?: {data?: Partial<RegistrationRecord> | null}}>(kvData(l, l.paths.registered))
    if (reg?.data?.data) o.registered = reg.data.data
  }
  const init = await client.read<Meta>(kvMetadata(l, l.paths.initialized))
  if (init?.data?.current_version) o.initialized = {version: init.data.current_version}
  return readPolicy()
}
