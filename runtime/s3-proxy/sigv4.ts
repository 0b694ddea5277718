// AWS Signature Version 4 for S3: verifying the client's requests (header auth, signed and
// unsigned payloads, aws-chunked streaming with chunk and trailer signatures) and signing the
// proxy's own requests upstream.
import {createHash, createHmac, timingSafeEqual} from 'node:crypto'
import {s3Error} from './s3-errors.js'

export interface Credentials {
  accessKeyId: string
  secretAccessKey: string
}

export const EMPTY_SHA256 = createHash('sha256').update('').digest('hex')
export const UNSIGNED = 'UNSIGNED-PAYLOAD'
export const STREAMING_SIGNED = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD'
export const STREAMING_SIGNED_TRAILER = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER'
export const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER'
/** x-amz-content-sha256 values of a body the client did not sign. */
export const UNSIGNED_PAYLOADS: readonly string[] = [UNSIGNED, STREAMING_UNSIGNED_TRAILER]

const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data).digest()
export const sha256hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex')

/** RFC 3986 encoding as SigV4 wants it: everything but unreserved characters. */
export const uriEncode = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)

/** The canonical URI of an S3 path: each segment decoded once and re-encoded (never normalised). */
export function canonicalPath(rawPath: string): string {
  return rawPath
    .split('/')
    .map((seg) => uriEncode(safeDecode(seg)))
    .join('/')
}

export function canonicalQuery(rawQuery: string): string {
  if (!rawQuery) return ''
  return rawQuery
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const eq = p.indexOf('=')
      const k = eq < 0 ? p : p.slice(0, eq)
      const v = eq < 0 ? '' : p.slice(eq + 1)
      return [uriEncode(safeDecode(k)), uriEncode(safeDecode(v))] as const
    })
    .filter(([k]) => k !== 'X-Amz-Signature')
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&')
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    throw s3Error('InvalidURI', 'the request URI is not validly percent-encoded')
  }
}

const trimValue = (v: string): string => v.trim().replace(/\s+/g, ' ')

export interface SignedRequest {
  method: string
  rawPath: string
  rawQuery: string
  /** Header name (lower case) to its values. */
  headers: Record<string, string[] | string | undefined>
}

export function canonicalRequest(r: SignedRequest, signedHeaders: string[], payloadHash: string): string {
  const lines = signedHeaders.map((h) => {
    const v = r.headers[h]
    const values = v === undefined ? [] : Array.isArray(v) ? v : [v]
    return `${h}:${values.map(trimValue).join(',')}`
  })
  return [r.method, canonicalPath(r.rawPath), canonicalQuery(r.rawQuery), ...lines, '', signedHeaders.join(';'), payloadHash].join('\n')
}

export const signingKey = (secret: string, date: string, region: string, service = 's3'): Buffer =>
  hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request')

export interface Scope {
  date: string
  region: string
  /** date/region/s3/aws4_request */
  scope: string
  amzDate: string
  key: Buffer
}

export const stringToSign = (amzDate: string, scope: string, canonical: string): string =>
  ['AWS4-HMAC-SHA256', amzDate, scope, sha256hex(canonical)].join('\n')

export interface VerifiedAuth extends Scope {
  seedSignature: string
  payloadHash: string
}

const AUTH_RE = /^AWS4-HMAC-SHA256\s+Credential=([^/,\s]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/

/** Checks the Authorization header against the Pod's credentials; the payload is checked while streaming. */
export function verifyHeaderAuth(r: SignedRequest, creds: Credentials, now = Date.now(), maxSkewMs = 15 * 60_000): VerifiedAuth {
  const auth = r.headers.authorization
  if (typeof auth !== 'string' || !auth) {
    if (/(^|&)X-Amz-Signature=/.test(r.rawQuery)) throw s3Error('NotImplemented', 'presigned URLs are not supported by the proxy; sign requests with the Authorization header')
    throw s3Error('AccessDenied', 'the request is not signed (anonymous requests are refused)')
  }
  const m = AUTH_RE.exec(auth.trim())
  if (!m) throw s3Error('AuthorizationHeaderMalformed', 'the Authorization header is not AWS4-HMAC-SHA256 with Credential, SignedHeaders and Signature')
  const [, akid, date, region, signedList, signature] = m as unknown as [string, string, string, string, string, string]
  if (akid !== creds.accessKeyId) throw s3Error('InvalidAccessKeyId', 'the access key ID is not the one this proxy was given')
  const signedHeaders = signedList.split(';')
  if (!signedHeaders.includes('host')) throw s3Error('AuthorizationHeaderMalformed', 'the host header must be signed')
  const amzDate = String(r.headers['x-amz-date'] ?? '')
  if (!/^\d{8}T\d{6}Z$/.test(amzDate) || amzDate.slice(0, 8) !== date) throw s3Error('AccessDenied', 'x-amz-date is missing or does not match the credential scope')
  const t = Date.UTC(+amzDate.slice(0, 4), +amzDate.slice(4, 6) - 1, +amzDate.slice(6, 8), +amzDate.slice(9, 11), +amzDate.slice(11, 13), +amzDate.slice(13, 15))
  if (Math.abs(now - t) > maxSkewMs) throw s3Error('RequestTimeTooSkewed', 'the difference between the request time and the proxy\'s time is too large')
  const payloadHash = String(r.headers['x-amz-content-sha256'] ?? '')
  if (!payloadHash) throw s3Error('InvalidRequest', 'x-amz-content-sha256 is required')
  if (!/^[0-9a-f]{64}$/.test(payloadHash) && ![UNSIGNED, STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER].includes(payloadHash)) {
    throw s3Error('InvalidArgument', `x-amz-content-sha256 "${payloadHash}" is not supported`)
  }
  const scope = `${date}/${region}/s3/aws4_request`
  const key = signingKey(creds.secretAccessKey, date, region)
  const expected = hmac(key, stringToSign(amzDate, scope, canonicalRequest(r, signedHeaders, payloadHash)))
  if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) {
    throw s3Error('SignatureDoesNotMatch', 'the request signature we calculated does not match the signature you provided; check your secret access key and signing method')
  }
  return {date, region, scope, amzDate, key, seedSignature: signature, payloadHash}
}

/** The signature of one aws-chunked chunk, chained from the previous one. */
export const chunkSignature = (s: Pick<Scope, 'amzDate' | 'scope' | 'key'>, previous: string, chunkHash: string): string =>
  createHmac('sha256', s.key).update(['AWS4-HMAC-SHA256-PAYLOAD', s.amzDate, s.scope, previous, EMPTY_SHA256, chunkHash].join('\n')).digest('hex')

export const trailerSignature = (s: Pick<Scope, 'amzDate' | 'scope' | 'key'>, previous: string, trailerHash: string): string =>
  createHmac('sha256', s.key).update(['AWS4-HMAC-SHA256-TRAILER', s.amzDate, s.scope, previous, trailerHash].join('\n')).digest('hex')

export const amzDateOf = (d: Date): string => d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')

/**
 * Signs an upstream request in place: adds x-amz-date, x-amz-content-sha256 and Authorization.
 * Every header given is signed. Returns the scope for chunk signatures.
 */
export function signRequest(r: SignedRequest & {headers: Record<string, string>}, creds: Credentials, region: string, payloadHash: string, now = new Date()): {scope: Scope; signature: string} {
  const amzDate = amzDateOf(now)
  const date = amzDate.slice(0, 8)
  r.headers['x-amz-date'] = amzDate
  r.headers['x-amz-content-sha256'] = payloadHash
  const signed = Object.keys(r.headers)
    .map((h) => h.toLowerCase())
    .filter((h) => h !== 'authorization')
    .sort()
  const scope = `${date}/${region}/s3/aws4_request`
  const key = signingKey(creds.secretAccessKey, date, region)
  const signature = hmac(key, stringToSign(amzDate, scope, canonicalRequest(r, signed, payloadHash))).toString('hex')
  r.headers.authorization = `AWS4-HMAC-SHA256 Credential=${creds.accessKeyId}/${scope}, SignedHeaders=${signed.join(';')}, Signature=${signature}`
  return {scope: {date, region, scope, amzDate, key}, signature}
}
