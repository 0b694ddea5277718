// What the provider sees of an encrypted object besides ciphertext: four metadata entries
// (docs/s3-proxy.md, "Metadata"). Everything else the client set passes through unchanged.
import type {IncomingHttpHeaders} from 'node:http'
import {integrityError, openManifest, type Manifest} from './format.js'
import type {KeyService} from './keys.js'

export const META = {
  format: 'x-amz-meta-cloudtaser-format',
  key: 'x-amz-meta-cloudtaser-key',
  dek: 'x-amz-meta-cloudtaser-dek',
  manifest: 'x-amz-meta-cloudtaser-manifest',
} as const
/** Written on new objects; the layout a reader uses is the one sealed in the manifest (format.ts). */
export const FORMAT_VERSION = '2'
const OURS = /^x-amz-meta-cloudtaser-/

export interface Envelope {
  keyName: string
  wrapped: string
  sealedManifest?: string
}

const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v)

/** The envelope of an object from its (upstream) headers; undefined for an unencrypted object. */
export function envelopeOf(h: IncomingHttpHeaders): Envelope | undefined {
  if (one(h[META.format]) === undefined) return undefined
  return {keyName: one(h[META.key]) ?? '', wrapped: one(h[META.dek]) ?? '', sealedManifest: one(h[META.manifest])}
}

export function envelopeHeaders(e: Envelope): Record<string, string> {
  const h: Record<string, string> = {[META.format]: FORMAT_VERSION, [META.key]: e.keyName, [META.dek]: e.wrapped}
  if (e.sealedManifest) h[META.manifest] = e.sealedManifest
  return h
}

export const isOurMeta = (name: string): boolean => OURS.test(name)

export interface Opened {
  key: Buffer
  manifest: Manifest
}

export async function openEnvelope(keys: KeyService, e: Envelope): Promise<Opened> {
  const key = await keys.unwrap(e.keyName, e.wrapped)
  if (!e.sealedManifest) throw integrityError('the object has no manifest: an unfinished multipart upload, or its metadata was removed')
  return {key, manifest: openManifest(key, e.sealedManifest)}
}

/** Client-settable headers copied from an upstream HEAD, for a CopyObject with replaced metadata. */
export function replayableHeaders(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue
    if ((k.startsWith('x-amz-meta-') && !isOurMeta(k)) || ['content-type', 'cache-control', 'content-disposition', 'content-language', 'expires'].includes(k)) {
      out[k] = one(v)!
    }
    if (k === 'content-encoding' && one(v) !== 'aws-chunked') out[k] = one(v)!
  }
  return out
}
