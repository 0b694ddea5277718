import type {BaoClient} from '../../lib/openbao/bao-client.js'
import type {EnvMapGroup} from '../../lib/annotations.js'
import {CloudtaserError, ExitCode} from '../../lib/errors.js'
import type {Delivery, SecretSet} from './delivery.js'
import {KvScanError, scanKvV2, type KvScan, type Span} from './kv-scan.js'

export interface FetchedSecrets {
  /** The values, in secret memory (native path) or V8 strings (fallback). */
  set: SecretSet
  /** Variable names the set delivers: the child's base environment must not repeat them. */
  names: string[]
  /** KV v2 version of each path, in secret-paths order: a change triggers restart or SIGHUP. */
  versions: number[]
}

interface Read {
  path: string
  bytes: Buffer
  scan: KvScan
}

/**
 * Read every secret path (KV v2 API paths, e.g. secret/data/app/db) and map fields to env names.
 * A group with no entries (or no group for a path) maps each field to its own name, upper-cased
 * — the original product's behaviour for an absent env-map. A mapped field that the secret lacks
 * is an error naming path and field (never a value): starting the app without it would hide it.
 *
 * Responses are read as bytes and scanned in place: values are copied from the buffers straight
 * into the delivery's secret set (a JSON string unescaped, any other JSON value as its text) and
 * every buffer is zero-filled before this returns, whatever happens. With `unlessVersions`, an
 * unchanged set of versions returns undefined without copying any value.
 */
export async function fetchSecrets(
  client: BaoClient,
  paths: string[],
  groups: EnvMapGroup[],
  delivery: Delivery,
  unlessVersions?: number[],
): Promise<FetchedSecrets | undefined> {
  const buffers: Buffer[] = []
  try {
    // allSettled: every buffer that arrives is known (and zeroed below), even when one read fails.
    const settled = await Promise.allSettled(
      paths.map(async (path): Promise<Read> => {
        const {status, bytes} = await client.callRaw('GET', path, {accept: [404], wipe: true})
        buffers.push(bytes)
        return {path, bytes, scan: status === 404 ? {fields: undefined, version: 0} : scanOf(path, bytes)}
      }),
    )
    const reads = settled.map((r) => {
      if (r.status === 'rejected') throw r.reason
      return r.value
    })
    for (const r of reads) if (!r.scan.fields) throw missing(r.path)
    const versions = reads.map((r) => r.scan.version)
    if (unlessVersions && versions.length === unlessVersions.length && versions.every((v, i) => v === unlessVersions[i])) return undefined
    const entries = mapFields(reads, groups)
    let capacity = 0
    for (const [name, e] of entries) capacity += Buffer.byteLength(name) + e.span.end - e.span.start + 2
    const set = delivery.newSet(capacity)
    try {
      for (const [name, e] of entries) {
        if (set.put(name, e.read.bytes, e.span) === 'nul') {
          throw new CloudtaserError('WRAPPER_SECRET_NUL', `field "${e.field}" of ${e.read.path} (mapped to ${name}) holds a NUL character, which an environment variable cannot carry`, {
            exitCode: ExitCode.CONFIG,
            hint: 'Store the value encoded (base64, hex) and decode it in the application.',
          })
        }
      }
    } catch (err) {
      set.wipe()
      throw err
    }
    return {set, names: [...entries.keys()], versions}
  } finally {
    for (const b of buffers) b.fill(0)
  }
}

const missing = (path: string) =>
  new CloudtaserError('WRAPPER_SECRET_MISSING', `secret ${path} does not exist or has no data (is it a KV v2 path like secret/data/app/db?)`, {
    exitCode: ExitCode.CONFIG,
    hint: 'Write it with `bao kv put`, or fix cloudtaser.io/secret-paths.',
  })

function scanOf(path: string, bytes: Buffer): KvScan {
  try {
    return scanKvV2(bytes)
  } catch (err) {
    if (!(err instanceof KvScanError)) throw err
    throw new CloudtaserError('WRAPPER_KV_RESPONSE', `OpenBao's answer for ${path} is not valid JSON (${err.message})`, {
      exitCode: ExitCode.UNAVAILABLE,
      hint: 'Something between the wrapper and OpenBao altered the response; check proxies on the path.',
    })
  }
}

/** An environment variable name cannot hold "=" or NUL: a field name turned into one might. */
const ENV_NAME = /^[^=\0]+$/

/** name -> where its value is; later mappings win, as later object assignments did. */
function mapFields(reads: Read[], groups: EnvMapGroup[]): Map<string, {read: Read; field: string; span: Span}> {
  const out = new Map<string, {read: Read; field: string; span: Span}>()
  const add = (name: string, read: Read, field: string, span: Span) => {
    if (!ENV_NAME.test(name)) {
      throw new CloudtaserError('WRAPPER_ENV_NAME', `field "${field}" of ${read.path} would become the variable name ${JSON.stringify(name)}, which holds "=" or NUL`, {
        exitCode: ExitCode.CONFIG,
        hint: 'Map the field to a valid name in cloudtaser.io/env-map.',
      })
    }
    out.delete(name)
    out.set(name, {read, field, span})
  }
  for (const [i, read] of reads.entries()) {
    const fields = read.scan.fields!
    const group = groups[i] ?? {fields: {}}
    const explicit = Object.keys(group.fields).length > 0 || group.allWithPrefix !== undefined
    if (!explicit) for (const [f, span] of fields) add(f.toUpperCase().replace(/[^A-Z0-9_]/g, '_'), read, f, span)
    if (group.allWithPrefix !== undefined) for (const [f, span] of fields) add(`${group.allWithPrefix}${f}`, read, f, span)
    for (const [field, names] of Object.entries(group.fields)) {
      const span = fields.get(field)
      if (!span) {
        throw new CloudtaserError('WRAPPER_FIELD_MISSING', `secret ${read.path} has no field "${field}" (mapped to ${names.join(', ')})`, {
          exitCode: ExitCode.CONFIG,
          hint: 'Add the field in OpenBao or fix cloudtaser.io/env-map.',
        })
      }
      for (const name of names) add(name, read, field, span)
    }
  }
  return out
}
