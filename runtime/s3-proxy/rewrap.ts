// `cloudtaser s3-proxy rewrap`: re-wrap every object's data key to the Transit key's latest
// version by rewriting metadata only (CopyObject onto itself with replaced metadata). Bodies are
// never downloaded or uploaded; the data key never leaves OpenBao (transit/rewrap). Objects
// already at the latest version are skipped, so an interrupted run is resumed by running it
// again (or with --start-after the last key it reported).
import type {BaoClient} from '../../lib/openbao/bao-client.js'
import {transitLatestVersion, transitRewrap, transitVersionOf} from '../../lib/openbao/transit.js'
import {envelopeHeaders, envelopeOf, replayableHeaders} from './object-meta.js'
import {s3Error} from './s3-errors.js'
import {uriEncode} from './sigv4.js'
import {upstreamRequest, type UpstreamConfig} from './upstream.js'
import {xmlAll, xmlText} from './xml.js'

export interface RewrapOptions {
  bucket: string
  prefix?: string
  startAfter?: string
  transitMount: string
  dryRun?: boolean
  onObject?: (key: string, outcome: RewrapOutcome) => void
}

export type RewrapOutcome = 'rewrapped' | 'current' | 'unencrypted' | 'changed' | 'would-rewrap'

export interface RewrapResult {
  bucket: string
  prefix: string
  scanned: number
  rewrapped: number
  current: number
  unencrypted: number
  /** Objects overwritten while being re-wrapped (copy precondition failed): run again. */
  changed: number
  /** Latest Transit key version per key name seen. */
  latest: Record<string, number>
  /** The last key handled: pass it as --start-after to resume. */
  lastKey?: string
}

const objectPath = (bucket: string, key: string) => `/${uriEncode(bucket)}/${key.split('/').map(uriEncode).join('/')}`

export async function rewrapBucket(up: UpstreamConfig, bao: BaoClient, o: RewrapOptions): Promise<RewrapResult> {
  const r: RewrapResult = {bucket: o.bucket, prefix: o.prefix ?? '', scanned: 0, rewrapped: 0, current: 0, unencrypted: 0, changed: 0, latest: {}}
  let token: string | undefined
  let startAfter = o.startAfter
  for (;;) {
    const q = new URLSearchParams({'list-type': '2', prefix: o.prefix ?? ''})
    if (token) q.set('continuation-token', token)
    else if (startAfter) q.set('start-after', startAfter)
    const list = await upstreamRequest(up, {method: 'GET', rawPath: `/${uriEncode(o.bucket)}`, rawQuery: q.toString().replace(/\+/g, '%20')})
    const text = await list.text()
    if (list.status !== 200) throw s3Error(xmlText(text, 'Code') ?? 'InternalError', `listing ${o.bucket}: HTTP ${list.status}: ${xmlText(text, 'Message') ?? ''}`, list.status)
    for (const block of xmlAll(text, 'Contents')) {
      const key = xmlText(block, 'Key')!
      const outcome = await rewrapOne(up, bao, o, key, r)
      r.scanned++
      if (outcome === 'would-rewrap') r.rewrapped++
      else r[outcome]++
      r.lastKey = key
      o.onObject?.(key, outcome)
    }
    if (xmlText(text, 'IsTruncated') !== 'true') break
    token = xmlText(text, 'NextContinuationToken')
    startAfter = undefined
  }
  return r
}

async function rewrapOne(up: UpstreamConfig, bao: BaoClient, o: RewrapOptions, key: string, r: RewrapResult): Promise<RewrapOutcome> {
  const path = objectPath(o.bucket, key)
  const head = await upstreamRequest(up, {method: 'HEAD', rawPath: path, rawQuery: ''})
  head.res.resume()
  if (head.status === 404) return 'changed'
  if (head.status !== 200) throw s3Error('InternalError', `HEAD ${o.bucket}/${key}: HTTP ${head.status}`, head.status)
  const env = envelopeOf(head.headers)
  if (!env) return 'unencrypted'
  const latest = (r.latest[env.keyName] ??= await transitLatestVersion(bao, o.transitMount, env.keyName))
  if (transitVersionOf(env.wrapped) >= latest) return 'current'
  if (o.dryRun) return 'would-rewrap'
  const wrapped = await transitRewrap(bao, o.transitMount, env.keyName, env.wrapped)
  const copy = await upstreamRequest(up, {
    method: 'PUT',
    rawPath: path,
    rawQuery: '',
    headers: {
      ...replayableHeaders(head.headers),
      ...envelopeHeaders({...env, wrapped: wrapped.ciphertext}),
      'x-amz-copy-source': path,
      // Only the version we read: a concurrent overwrite is left alone and reported.
      'x-amz-copy-source-if-match': String(head.headers.etag ?? ''),
      'x-amz-metadata-directive': 'REPLACE',
    },
  })
  const text = await copy.text()
  if (copy.status === 412) return 'changed'
  if (copy.status !== 200 || /<Error>/.test(text)) throw s3Error(xmlText(text, 'Code') ?? 'InternalError', `re-writing the metadata of ${o.bucket}/${key}: HTTP ${copy.status}: ${xmlText(text, 'Message') ?? ''}`, copy.status)
  return 'rewrapped'
}
