import type {OpenBaoClient} from './client.js'
import {baoError} from './errors.js'
import {readSecretShape} from './secret-shape.js'

export interface KvMountInfo {
  mount: string
  type: string
  version: 2
}

interface UiMount {
  data?: {type?: string; path?: string; options?: {version?: string} | null}
}

/**
 * Finds the secrets engine at `mount` and refuses anything but KV version 2. Uses the endpoint
 * the bao CLI's own `kv` commands use (sys/internal/ui/mounts), which any token with some access
 * below the mount may call, so operators without sudo on sys/mounts get a precise answer too.
 */
export async function detectKvMount(client: OpenBaoClient, mount: string): Promise<KvMountInfo> {
  const r = await client.call<UiMount>('GET', `sys/internal/ui/mounts/${mount}`, {accept: [400, 403, 404]})
  if (r.status === 403 && !(await client.isTokenValid())) throw baoError.invalidToken()
  const found = r.status === 200 ? r.body?.data : undefined
  if (!found || found.path?.replace(/\/$/, '') !== mount) {
    // OpenBao answers 403 for a path with no mount, even to root: ask sys/mounts when allowed.
    const all = await client.call<{data?: Record<string, unknown>}>('GET', 'sys/mounts', {accept: [403]})
    throw baoError.kvMountMissing(mount, all.status === 200)
  }
  if (found.type !== 'kv' && found.type !== 'generic') throw baoError.notKv(mount, found.type ?? 'unknown')
  if (found.options?.version !== '2') throw baoError.kvV1(mount)
  return {mount, type: found.type, version: 2}
}

/** `secret/data/team/db` with mount `secret` -> `team/db`; undefined when the path is not under the mount's data/. */
export function secretPathOf(vaultPath: string, mount: string): string | undefined {
  const prefix = `${mount}/data/`
  return vaultPath.startsWith(prefix) && vaultPath.length > prefix.length ? vaultPath.slice(prefix.length) : undefined
}

export type SecretState = 'ok' | 'missing' | 'deleted' | 'destroyed' | 'fields-missing'

export interface SecretInspection {
  state: SecretState
  version?: number
  /** Required fields absent from the current version. Names only. */
  missingFields: string[]
  /** Whether the value had to be read (field check) or metadata was enough. */
  read: 'metadata' | 'data'
}

interface KvMetadata {
  data?: {current_version?: number; versions?: Record<string, {deletion_time?: string; destroyed?: boolean}>}
}

/**
 * Checks one KV v2 secret. Without fields to check it reads metadata only. With fields, the data
 * read is unavoidable; its bytes are scanned for field names (never decoding a value) and wiped.
 */
export async function inspectSecret(client: OpenBaoClient, mount: string, path: string, requiredFields: readonly string[]): Promise<SecretInspection> {
  if (requiredFields.length === 0) {
    const meta = await client.read<KvMetadata>(`${mount}/metadata/${path}`)
    const current = meta?.data?.current_version
    if (!meta || !current) return {state: 'missing', missingFields: [], read: 'metadata'}
    const v = meta.data?.versions?.[String(current)]
    if (v?.destroyed) return {state: 'destroyed', version: current, missingFields: [], read: 'metadata'}
    if (v?.deletion_time) return {state: 'deleted', version: current, missingFields: [], read: 'metadata'}
    return {state: 'ok', version: current, missingFields: [], read: 'metadata'}
  }
  const {status, bytes} = await client.callRaw('GET', `${mount}/data/${path}`, {accept: [404]})
  try {
    const shape = bytes.length > 0 ? readSecretShape(bytes) : {fields: null, metadata: undefined}
    const version = shape.metadata?.version
    if (status === 404 || shape.fields === null) {
      if (shape.metadata?.destroyed) return {state: 'destroyed', version, missingFields: [], read: 'data'}
      if (shape.metadata?.deletion_time) return {state: 'deleted', version, missingFields: [], read: 'data'}
      return {state: 'missing', missingFields: [], read: 'data'}
    }
    const have = new Set(shape.fields)
    const missingFields = requiredFields.filter((f) => !have.has(f))
    return {state: missingFields.length ? 'fields-missing' : 'ok', version, missingFields, read: 'data'}
  } finally {
    bytes.fill(0)
  }
}
