import type {BaoClient} from './bao-client.js'
import {baoError} from './errors.js'
import {escapeJsonInto, escapeJsonLength, JsonReader, SecretValues, wipe} from '../secret-bytes.js'

/**
 * KV v2 reads and writes that carry values, for `target migrate`: values travel as Buffers
 * (lib/secret-bytes.ts), the request body is built as bytes and the response scanned as bytes,
 * both zero-filled after use. Writes use check-and-set, so a version someone else wrote in
 * between is never overwritten. (`inspectSecret` in kv.ts reads shapes only; this module is the
 * one that reads values.)
 */
export type KvState = 'ok' | 'missing' | 'deleted' | 'destroyed'

export interface KvRead {
  state: KvState
  /** The version read (or the current one, when it is deleted or destroyed). */
  version?: number
  /** Each string field's text as bytes; a non-string field's JSON text. The caller wipes them. */
  values: SecretValues
  /** Fields whose JSON value is not a string (a number, object...): their bytes are JSON text. */
  nonString: string[]
}

const CAS_MISMATCH = /check-and-set parameter did not match the current version/

/** `version` reads that version (KV v2 `?version=N`); without it, the current one. */
export async function readKvValues(client: BaoClient, mount: string, path: string, version?: number): Promise<KvRead> {
  const {status, bytes} = await client.callRaw('GET', `${mount}/data/${path}`, {accept: [404], wipe: true, ...(version === undefined ? {} : {query: {version: String(version)}})})
  const values = new SecretValues()
  const nonString: string[] = []
  try {
    if (bytes.length === 0) return {state: 'missing', values, nonString}
    const r = new JsonReader(bytes)
    const meta: {version?: number; deletion_time?: string; destroyed?: boolean} = {}
    let hasData = false
    r.object((top) => {
      if (top !== 'data' || !r.isObject()) return r.skipValue()
      r.object((inner) => {
        if (inner === 'data' && r.isObject()) {
          hasData = true
          r.object((field) => {
            if (r.isString()) values.set(field, r.stringValue())
            else {
              nonString.push(field)
              values.set(field, r.rawValue())
            }
          })
        } else if (inner === 'metadata' && r.isObject()) {
          r.object((k) => {
            if ((k === 'version' || k === 'deletion_time' || k === 'destroyed') && !r.isObject()) (meta as Record<string, unknown>)[k] = r.scalar()
            else r.skipValue()
          })
        } else r.skipValue()
      })
    })
    const v = typeof meta.version === 'number' ? meta.version : undefined
    if (status === 404 || !hasData) {
      values.wipe()
      if (meta.destroyed) return {state: 'destroyed', version: v, values, nonString: []}
      if (meta.deletion_time) return {state: 'deleted', version: v, values, nonString: []}
      return {state: 'missing', values, nonString: []}
    }
    return {state: 'ok', version: v, values, nonString}
  } catch (err) {
    values.wipe()
    throw err
  } finally {
    bytes.fill(0)
  }
}

/**
 * `{"options":{"cas":N},"data":{"field":"text",...}}` as bytes, each value written escaped
 * straight from its Buffer (the values must be UTF-8 text; binary is base64-encoded by the caller).
 */
export function kvWriteBody(values: SecretValues, cas: number): Buffer {
  const head = Buffer.from(`{"options":{"cas":${cas}},"data":{`)
  const names = values.names
  const keys = names.map((n) => Buffer.from(JSON.stringify(n), 'utf8'))
  let size = head.length + 2
  names.forEach((n, i) => (size += (i > 0 ? 1 : 0) + keys[i]!.length + 1 + 2 + escapeJsonLength(values.fields.get(n)!)))
  const out = Buffer.allocUnsafeSlow(size)
  let at = head.copy(out, 0)
  names.forEach((n, i) => {
    if (i > 0) out[at++] = 0x2c
    at += keys[i]!.copy(out, at)
    out[at++] = 0x3a
    out[at++] = 0x22
    at = escapeJsonInto(values.fields.get(n)!, out, at)
    out[at++] = 0x22
  })
  out[at++] = 0x7d
  out[at++] = 0x7d
  return out.subarray(0, at)
}

/**
 * Writes a new version with check-and-set: `cas` 0 means "only if the secret does not exist",
 * N means "only if the current version is N". 'cas-mismatch' when someone else's version is
 * there: nothing was written.
 */
export async function writeKvValues(client: BaoClient, mount: string, path: string, values: SecretValues, cas: number): Promise<{version: number} | 'cas-mismatch'> {
  const body = kvWriteBody(values, cas)
  try {
    const r = await client.callRaw('POST', `${mount}/data/${path}`, {rawBody: body, accept: [400]})
    const text = r.bytes.toString('utf8')
    if (r.status === 400) {
      if (CAS_MISMATCH.test(text)) return 'cas-mismatch'
      throw baoError.request(`POST ${mount}/data/${path}`, 400, errorsOf(text))
    }
    const version = (JSON.parse(text) as {data?: {version?: number}}).data?.version
    if (typeof version !== 'number') throw baoError.request(`POST ${mount}/data/${path}`, r.status, 'the answer names no version')
    return {version}
  } finally {
    wipe(body)
  }
}

/** OpenBao's `errors` list (never a value: the write's answer carries metadata only). */
const errorsOf = (text: string): string => {
  try {
    const e = (JSON.parse(text) as {errors?: unknown}).errors
    return Array.isArray(e) ? e.filter((x) => typeof x === 'string').join('; ') : ''
  } catch {
    return ''
  }
}

export interface KvMetadata {
  currentVersion: number
  /** Per version: whether it is soft-deleted or destroyed. */
  versions: Record<string, {deleted: boolean; destroyed: boolean}>
}

/** KV v2 metadata (no value); undefined when the path has none. */
export async function readKvMetadata(client: BaoClient, mount: string, path: string): Promise<KvMetadata | undefined> {
  const body = await client.read<{data?: {current_version?: number; versions?: Record<string, {deletion_time?: string; destroyed?: boolean}>}}>(`${mount}/metadata/${path}`)
  const d = body?.data
  if (!d?.current_version) return undefined
  return {
    currentVersion: d.current_version,
    versions: Object.fromEntries(Object.entries(d.versions ?? {}).map(([k, v]) => [k, {deleted: Boolean(v.deletion_time), destroyed: Boolean(v.destroyed)}])),
  }
}
