import {JsonReader} from '../secret-bytes.js'

/**
 * Reads a KV v2 data response (`GET <mount>/data/<path>`) for its SHAPE only: the field names
 * and the version metadata. It scans the raw bytes (lib/secret-bytes.ts, the one byte-level JSON
 * reader) and skips over every value under `data.data` without decoding it, so secret values
 * never become JavaScript strings (which could not be wiped and would linger in the heap until
 * collected). The caller zero-fills the buffer.
 */
export interface SecretShape {
  /** Field names of the current version; null when the response had no `data.data` (deleted). */
  fields: string[] | null
  metadata?: {version?: number; deletion_time?: string; destroyed?: boolean; created_time?: string}
}

export function readSecretShape(bytes: Uint8Array): SecretShape {
  const r = new JsonReader(bytes)
  let fields: string[] | null = null
  let metadata: SecretShape['metadata']
  r.object((top) => {
    if (top !== 'data' || !r.isObject()) return r.skipValue()
    r.object((inner) => {
      if (inner === 'data' && r.isObject()) {
        const names: string[] = []
        r.object((field) => {
          names.push(field)
          r.skipValue()
        })
        fields = names
      } else if (inner === 'metadata' && r.isObject()) {
        const m: Record<string, unknown> = {}
        r.object((k) => {
          if (r.isObject() || r.peek() === 0x5b) r.skipValue()
          else m[k] = r.scalar()
        })
        metadata = {
          version: typeof m.version === 'number' ? m.version : undefined,
          deletion_time: typeof m.deletion_time === 'string' ? m.deletion_time : undefined,
          destroyed: typeof m.destroyed === 'boolean' ? m.destroyed : undefined,
          created_time: typeof m.created_time === 'string' ? m.created_time : undefined,
        }
      } else r.skipValue()
    })
  })
  return {fields, metadata}
}
