import type {BaoClient} from '../../lib/openbao/bao-client.js'

/** `<mount>/data/<path>` -> `<mount>/metadata/<path>` (the first `/data/` segment), or undefined. */
export function metadataPathOf(dataPath: string): string | undefined {
  const i = dataPath.indexOf('/data/')
  return i > 0 ? `${dataPath.slice(0, i)}/metadata/${dataPath.slice(i + '/data/'.length)}` : undefined
}

/**
 * The current KV v2 version of each path from its metadata endpoint: change polling then moves no
 * secret value at all. undefined when the token may not read metadata (policies written before
 * `source apply-plan` granted it, or hand-written ones): the caller polls by reading the secrets.
 * A path without metadata counts as version 0, as a missing secret does in a full read.
 */
export async function readVersions(client: BaoClient, dataPaths: readonly string[]): Promise<number[] | undefined> {
  const metadataPaths = dataPaths.map(metadataPathOf)
  if (metadataPaths.some((p) => p === undefined)) return undefined
  const answers = await Promise.all(metadataPaths.map((p) => client.call<{data?: {current_version?: number}}>('GET', p!, {accept: [403, 404]})))
  if (answers.some((a) => a.status === 403)) return undefined
  return answers.map((a) => (a.status === 404 ? 0 : (a.body?.data?.current_version ?? 0)))
}

export const sameVersions = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((v, i) => v === b[i])
