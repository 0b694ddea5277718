import {CloudtaserError, ExitCode} from '../errors.js'
import type {BaoClient} from './bao-client.js'

/**
 * OpenBao Transit: wrap and unwrap data keys with a named key that never leaves OpenBao (the S3
 * proxy's envelope encryption). Plaintext goes in and comes out base64-encoded, as the API wants;
 * callers zero-fill the key buffers they get.
 */
export interface WrappedKey {
  /** `vault:v<N>:<base64>` as Transit returns it: the version needed to unwrap is in it. */
  ciphertext: string
  version: number
}

export const transitVersionOf = (ciphertext: string): number => {
  const m = /^vault:v(\d+):/.exec(ciphertext)
  if (!m) throw new CloudtaserError('TRANSIT_BAD_CIPHERTEXT', 'a wrapped key is not in Transit\'s vault:v<N>: form', {exitCode: ExitCode.CHECK_FAILED})
  return Number(m[1])
}

const missingKey = (mount: string, key: string, detail: string) =>
  new CloudtaserError('TRANSIT_KEY_MISSING', `Transit key "${key}" under ${mount}/ cannot be used: ${detail}`, {
    exitCode: ExitCode.CONFIG,
    hint: `Create it: bao secrets enable transit; bao write -f ${mount}/keys/${key}`,
  })

async function transitCall<T>(client: BaoClient, mount: string, key: string, op: string, body: unknown): Promise<T> {
  const r = await client.call<{data?: T; errors?: string[]}>('POST', `${mount}/${op}/${key}`, {body, accept: [400, 404]})
  if (r.status !== 200 || !r.body?.data) throw missingKey(mount, key, (r.body?.errors ?? []).join('; ') || `HTTP ${r.status}`)
  return r.body.data
}

/** Wraps each plaintext in one call (Transit's batch_input): a pool of data keys costs one round trip. */
export async function transitEncrypt(client: BaoClient, mount: string, key: string, plaintexts: Buffer[]): Promise<WrappedKey[]> {
  const d = await transitCall<{batch_results?: {ciphertext?: string; error?: string}[]}>(client, mount, key, 'encrypt', {
    batch_input: plaintexts.map((p) => ({plaintext: p.toString('base64')})),
  })
  const results = d.batch_results ?? []
  const failed = results.find((r) => r.error || !r.ciphertext)
  if (results.length !== plaintexts.length || failed) throw missingKey(mount, key, failed?.error ?? `${results.length} of ${plaintexts.length} keys wrapped`)
  return results.map((r) => ({ciphertext: r.ciphertext!, version: transitVersionOf(r.ciphertext!)}))
}

export async function transitDecrypt(client: BaoClient, mount: string, key: string, ciphertext: string): Promise<Buffer> {
  const d = await transitCall<{plaintext: string}>(client, mount, key, 'decrypt', {ciphertext})
  return Buffer.from(d.plaintext, 'base64')
}

/** Re-encrypts under the key's latest version inside OpenBao: the data key never comes out. */
export async function transitRewrap(client: BaoClient, mount: string, key: string, ciphertext: string): Promise<WrappedKey> {
  const d = await transitCall<{ciphertext: string}>(client, mount, key, 'rewrap', {ciphertext})
  return {ciphertext: d.ciphertext, version: transitVersionOf(d.ciphertext)}
}

export async function transitLatestVersion(client: BaoClient, mount: string, key: string): Promise<number> {
  const r = await client.call<{data?: {latest_version?: number}}>('GET', `${mount}/keys/${key}`, {accept: [404]})
  if (r.status === 404 || !r.body?.data?.latest_version) throw missingKey(mount, key, 'no such key')
  return r.body.data.latest_version
}
