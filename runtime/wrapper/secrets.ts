import type {OpenBaoClient} from '../../lib/openbao/client.js'
import type {EnvMapGroup} from '../../lib/annotations.js'
import {CloudtaserError, ExitCode} from '../../lib/errors.js'

export interface FetchedSecrets {
  env: Record<string, string>
  /** KV v2 version of each path, in secret-paths order: a change triggers restart or SIGHUP. */
  versions: number[]
}

interface KvRead {
  data?: {data?: Record<string, unknown>; metadata?: {version?: number}}
}

/**
 * Read every secret path (KV v2 API paths, e.g. secret/data/app/db) and map fields to env names.
 * A group with no entries (or no group for a path) maps each field to its own name, upper-cased
 * — the original product's behaviour for an absent env-map. A mapped field that the secret lacks
 * is an error naming path and field (never a value): starting the app without it would hide it.
 */
export async function fetchSecrets(client: OpenBaoClient, paths: string[], groups: EnvMapGroup[]): Promise<FetchedSecrets> {
  const env: Record<string, string> = {}
  const versions: number[] = []
  const bodies = await Promise.all(paths.map((p) => client.read<KvRead>(p)))
  for (const [i, path] of paths.entries()) {
    const body = bodies[i]
    const data = body?.data?.data
    if (!data) {
      throw new CloudtaserError('WRAPPER_SECRET_MISSING', `secret ${path} does not exist or has no data (is it a KV v2 path like secret/data/app/db?)`, {
        exitCode: ExitCode.CONFIG,
        hint: 'Write it with `bao kv put`, or fix cloudtaser.io/secret-paths.',
      })
    }
    versions.push(body.data?.metadata?.version ?? 0)
    const group = groups[i] ?? {fields: {}}
    const explicit = Object.keys(group.fields).length > 0 || group.allWithPrefix !== undefined
    const str = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v))
    if (!explicit) for (const [f, v] of Object.entries(data)) env[f.toUpperCase().replace(/[^A-Z0-9_]/g, '_')] = str(v)
    if (group.allWithPrefix !== undefined) for (const [f, v] of Object.entries(data)) env[`${group.allWithPrefix}${f}`] = str(v)
    for (const [field, name] of Object.entries(group.fields)) {
      if (!(field in data)) {
        throw new CloudtaserError('WRAPPER_FIELD_MISSING', `secret ${path} has no field "${field}" (mapped to ${name})`, {
          exitCode: ExitCode.CONFIG,
          hint: 'Add the field in OpenBao or fix cloudtaser.io/env-map.',
        })
      }
      env[name] = str(data[field])
    }
  }
  return {env, versions}
}
