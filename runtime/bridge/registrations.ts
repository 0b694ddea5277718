// What the bridge reads from OpenBao, with its own least-privilege token (bridgeFleetPolicy):
// the registered clusters, whether each is initialized, and, only while signing, a CA key.
import {createPrivateKey, type KeyObject} from 'node:crypto'
import type {BaoClient} from '../../lib/openbao/client.js'
import {caPath, kvData, PARENT_NAMESPACE, registrationLayout, type RegistrationLayout, type RegistrationRecord} from '../../lib/openbao/registration.js'
import type {Jwks} from './jwt.js'

export interface ClusterState {
  layout: RegistrationLayout
  record: RegistrationRecord
  /** The initialized record the bridge wrote at bootstrap, if any. */
  initialized?: InitializedRecord
  /** Its KV version: every later write is check-and-set on it. */
  initializedVersion: number
}

/** Written once per registration by the bridge, with check-and-set 0 (docs/register.md). */
export interface InitializedRecord {
  initializedAt: string
  /** Serial of the one broker certificate issued, as X509Certificate prints it. */
  serial: string
  /** Hex SHA-256 of the broker key's SubjectPublicKeyInfo. */
  spkiSha256: string
  notAfter: string
  caCertSha256: string
  /** The cluster's public keys and the broker's ServiceAccount, from the last tunnel: what a renewal proof is checked against. */
  jwks?: Jwks
  brokerSubject?: string
  renewedAt?: string
}

interface NsList {
  data?: {keys?: string[]; key_info?: Record<string, {custom_metadata?: Record<string, string> | null}>}
}

/** Every cluster registered in namespace mode, with its record and initialized state. */
export async function listClusters(client: BaoClient): Promise<ClusterState[]> {
  const r = await client.call<NsList>('GET', `${PARENT_NAMESPACE}/sys/namespaces`, {query: {list: 'true'}, accept: [404]})
  const out: ClusterState[] = []
  for (const key of r.body?.data?.keys ?? []) {
    const id = key.replace(/\/$/, '')
    let meta = r.body?.data?.key_info?.[key]?.custom_metadata ?? undefined
    if (!meta) meta = (await client.read<{data?: {custom_metadata?: Record<string, string> | null}}>(`${PARENT_NAMESPACE}/sys/namespaces/${id}`))?.data?.custom_metadata ?? undefined
    const fp = meta?.['cluster-fingerprint']
    if (!fp || meta?.['managed-by'] !== 'cloudtaser') continue
    const state = await readCluster(client, fp)
    if (state) out.push(state)
  }
  return out
}

/** One cluster's state, read fresh (the bridge re-reads at every bootstrap and every tunnel). */
export async function readCluster(client: BaoClient, fingerprint: string): Promise<ClusterState | undefined> {
  const layout = registrationLayout(fingerprint, {namespaces: true})
  const reg = await client.read<{data?: {data?: RegistrationRecord | null}}>(kvData(layout, layout.paths.registered))
  const record = reg?.data?.data ?? undefined
  if (!record || record.fingerprint !== fingerprint) return undefined
  const init = await client.read<{data?: {data?: InitializedRecord | null; metadata?: {version?: number}}}>(kvData(layout, layout.paths.initialized))
  const initialized = init?.data?.data ?? undefined
  return {layout, record, initialized, initializedVersion: initialized ? (init?.data?.metadata?.version ?? 0) : 0}
}

/**
 * Writes the initialized record with check-and-set: `cas` 0 creates it (OpenBao then allows it
 * once, even across bridge replicas), a version replaces exactly that version. Returns false when
 * someone wrote first (another bridge, a replay, a concurrent renewal).
 */
export async function writeInitialized(client: BaoClient, l: RegistrationLayout, rec: InitializedRecord, cas: number): Promise<boolean> {
  const r = await client.call<{errors?: string[]}>('POST', kvData(l, l.paths.initialized), {body: {options: {cas}, data: rec}, accept: [400]})
  if (r.status !== 400) return true
  if (/check-and-set/.test(r.body?.errors?.join('; ') ?? '')) return false
  throw new Error(`creating ${kvData(l, l.paths.initialized)}: ${r.body?.errors?.join('; ')}`)
}

/**
 * The cluster CA's key as a KeyObject, for signing and nothing else. The response is read as
 * bytes with wiping; the PEM is unescaped into a buffer that is zero-filled after the parse, so
 * no JavaScript string of the key exists.
 */
export async function readCaKey(client: BaoClient, l: RegistrationLayout, caSha256: string): Promise<KeyObject> {
  const {bytes} = await client.callRaw('GET', kvData(l, caPath(l, caSha256)), {wipe: true})
  const pemBuf = Buffer.alloc(bytes.length)
  try {
    const marker = Buffer.from('"private_key":"')
    const at = bytes.indexOf(marker)
    if (at < 0) throw new Error(`${kvData(l, caPath(l, caSha256))} has no private_key`)
    let o = 0
    for (let i = at + marker.length; i < bytes.length && bytes[i] !== 0x22; i++) {
      if (bytes[i] === 0x5c && bytes[i + 1] === 0x6e) {
        pemBuf[o++] = 0x0a
        i++
      } else pemBuf[o++] = bytes[i]!
    }
    return createPrivateKey({key: pemBuf.subarray(0, o), format: 'pem'})
  } finally {
    bytes.fill(0)
    pemBuf.fill(0)
  }
}
