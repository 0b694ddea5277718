// The S3 endpoint a workload points its client at: verify the client's signature, encrypt or
// decrypt, re-sign upstream. Path-style addressing (/bucket/key). Operations: docs/s3-proxy.md.
import http, {type IncomingMessage, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import {randomBytes} from 'node:crypto'
import {clientBody, planBody} from './client-body.js'
import {chunkPool, chunkSizes, coveringSegments, integrityError, partSaltAt, SegmentOpener, plaintextSize, SALT, sealChunks, sealManifest, VERSION, type Manifest} from './format.js'
import type {KeyService} from './keys.js'
import type {ProxyMetrics} from './metrics.js'
import {envelopeHeaders, envelopeOf, openEnvelope, replayableHeaders, type Envelope} from './object-meta.js'
import {BATCH, BUFFERED, HIGH_WATER_MARK, writeFlow} from './flow.js'
import {free, released} from './release.js'
import {errorXml, s3Error, toS3Error, type S3Error} from './s3-errors.js'
import {UNSIGNED_PAYLOADS, uriEncode, verifyHeaderAuth, type Credentials, type VerifiedAuth} from './sigv4.js'
import {upstreamRequest, type UpstreamConfig, type UpstreamResponse} from './upstream.js'
import {xmlAll, xmlEscape, xmlText} from './xml.js'

export interface ProxyOptions {
  host: string
  port: number
  client: Credentials
  upstream: UpstreamConfig
  keys: KeyService
  metrics: ProxyMetrics
  /** Pad each part's last segment (hides plaintext sizes below 64 KiB granularity). */
  pad: boolean
  requireEncrypted: boolean
  log?: (event: Record<string, unknown>) => void
}

export interface ProxyServer {
  url: string
  port: number
  close(): Promise<void>
}

interface Ctx {
  req: IncomingMessage
  res: ServerResponse
  o: ProxyOptions
  rawPath: string
  rawQuery: string
  query: URLSearchParams
  bucket: string
  key: string
  auth: VerifiedAuth
  op: string
}

const PASS_REQUEST = /^(content-type|cache-control|content-disposition|content-language|expires|range|if-match|if-none-match|if-modified-since|if-unmodified-since|x-amz-.*)$/
const DROP_AMZ = /^x-amz-(content-sha256|date|decoded-content-length|trailer|checksum-.*|sdk-checksum-algorithm|meta-cloudtaser-.*)$/
const DROP_RESPONSE = /^(connection|keep-alive|transfer-encoding|content-length|content-range|x-amz-checksum-.*|x-amz-meta-cloudtaser-.*)$/

/** The client's headers worth sending upstream (conditionals, metadata, copy source...). */
function forwardHeaders(req: IncomingMessage, keepChecksums = false): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined || !PASS_REQUEST.test(k)) continue
    if (DROP_AMZ.test(k) && !(keepChecksums && /^x-amz-(checksum-|sdk-checksum-algorithm)/.test(k))) continue
    if (k === 'content-encoding') continue
    out[k] = Array.isArray(v) ? v.join(',') : v
  }
  return out
}

function copyResponseHeaders(res: ServerResponse, h: IncomingMessage['headers']): void {
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !DROP_RESPONSE.test(k)) res.setHeader(k, v)
}

export async function startS3Proxy(o: ProxyOptions): Promise<ProxyServer> {
  const server = http.createServer({highWaterMark: HIGH_WATER_MARK}, (req, res) => {
    void handle(req, res, o)
  })
  server.keepAliveTimeout = 60_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(o.port, o.host, () => resolve())
  })
  const a = server.address() as AddressInfo
  return {
    url: `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`,
    port: a.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

async function handle(req: IncomingMessage, res: ServerResponse, o: ProxyOptions): Promise<void> {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  const rawPath = q < 0 ? url : url.slice(0, q)
  const rawQuery = q < 0 ? '' : url.slice(q + 1)
  const requestId = randomBytes(8).toString('hex').toUpperCase()
  res.setHeader('x-amz-request-id', requestId)
  let op = 'Unknown'
  try {
    const auth = verifyHeaderAuth({method: req.method ?? 'GET', rawPath, rawQuery, headers: req.headers}, o.client)
    const segs = rawPath.split('/')
    const bucket = decodeURIComponent(segs[1] ?? '')
    const key = segs.slice(2).map(decodeURIComponent).join('/')
    const ctx: Ctx = {req, res, o, rawPath, rawQuery, query: new URLSearchParams(rawQuery), bucket, key, auth, op}
    op = ctx.op = operationOf(ctx)
    await ROUTES[op]!(ctx)
  } catch (err) {
    const e = toS3Error(err)
    if (e.cause && (e.cause as {code?: string}).code === 'S3_INTEGRITY') o.metrics.integrityFailures++
    sendError(res, e, rawPath, requestId)
    o.log?.({level: e.status >= 500 ? 'error' : 'warn', op, status: e.status, code: e.s3Code, message: e.message})
  } finally {
    o.metrics.request(op, res.statusCode)
  }
}

function sendError(res: ServerResponse, e: S3Error, resource: string, requestId: string): void {
  if (res.headersSent) {
    // Mid-body: the only honest signal left is a broken connection (never unauthenticated data).
    res.destroy()
    return
  }
  const body = errorXml(e, resource, requestId)
  res.writeHead(e.status, {'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), ...(e.status === 503 ? {'retry-after': '1'} : {})})
  res.end(body)
}

const LIST_PARAMS = new Set(['list-type', 'prefix', 'delimiter', 'marker', 'max-keys', 'encoding-type', 'continuation-token', 'start-after', 'fetch-owner', 'x-id'])

function operationOf(c: Ctx): string {
  const m = c.req.method
  const q = c.query
  if (!c.bucket) return m === 'GET' ? 'ListBuckets' : 'Passthrough'
  if (!c.key) {
    // ListObjects (v1) and ListObjectsV2 share the <Contents><Key><Size> shape.
    if (m === 'GET' && [...q.keys()].every((k) => LIST_PARAMS.has(k))) return q.get('list-type') === '2' ? 'ListObjectsV2' : 'ListObjects'
    return 'Passthrough'
  }
  if (q.has('uploads') && m === 'POST') return 'CreateMultipartUpload'
  if (q.has('uploadId')) {
    if (m === 'PUT') return c.req.headers['x-amz-copy-source'] ? 'UploadPartCopy' : 'UploadPart'
    if (m === 'POST') return 'CompleteMultipartUpload'
    if (m === 'DELETE') return 'AbortMultipartUpload'
    if (m === 'GET') return 'ListParts'
  }
  // Sub-resources (tagging, acl, retention...) carry no object data.
  const sub = [...q.keys()].some((k) => !['versionId', 'partNumber', 'x-id'].includes(k) && !k.startsWith('response-'))
  if (sub) return 'Passthrough'
  if (m === 'PUT') return c.req.headers['x-amz-copy-source'] ? 'CopyObject' : 'PutObject'
  if (m === 'GET') return 'GetObject'
  if (m === 'HEAD') return 'HeadObject'
  if (m === 'DELETE') return 'DeleteObject'
  return 'Passthrough'
}

/** Reads a small client body (XML requests), checked like any other. */
async function smallBody(c: Ctx, max = 2 * 1024 * 1024): Promise<Buffer | undefined> {
  const chunked = c.auth.payloadHash.startsWith('STREAMING')
  const len = chunked ? c.req.headers['x-amz-decoded-content-length'] : c.req.headers['content-length']
  if (len === undefined || len === '0') {
    // Still drain and check an empty body (a signed payload hash of the empty string).
    if (!chunked) return undefined
  }
  const plan = planBody(c.req.headers, c.auth)
  if (plan.length > max) throw s3Error('InvalidRequest', `a ${c.op} body over ${max} bytes is not expected`)
  const parts: Buffer[] = []
  for await (const b of clientBody(c.req, c.req.headers, c.auth, plan)) parts.push(b)
  return Buffer.concat(parts)
}

async function relay(c: Ctx, up: UpstreamResponse, extra: Record<string, string> = {}): Promise<void> {
  copyResponseHeaders(c.res, up.headers)
  for (const [k, v] of Object.entries(extra)) c.res.setHeader(k, v)
  if (up.headers['content-length'] !== undefined) c.res.setHeader('content-length', up.headers['content-length'])
  c.res.writeHead(up.status)
  for await (const b of up.res) await writeFlow(c.res, b as Buffer)
  c.res.end()
}

/** A request carrying no object data: re-signed as it is (its body, if any, is checked and forwarded). */
async function passthrough(c: Ctx): Promise<void> {
  const body = await smallBody(c)
  const up = await upstreamRequest(c.o.upstream, {method: c.req.method!, rawPath: c.rawPath, rawQuery: c.rawQuery, headers: {...forwardHeaders(c.req, true), ...md5Of(c.req)}, body})
  await relay(c, up)
}

const md5Of = (req: IncomingMessage): Record<string, string> => (req.headers['content-md5'] ? {'content-md5': String(req.headers['content-md5'])} : {})

const objectPath = (bucket: string, key: string) => `/${uriEncode(bucket)}/${key.split('/').map(uriEncode).join('/')}`

async function upstreamError(c: Ctx, up: UpstreamResponse): Promise<void> {
  await relay(c, up)
}

/** Encrypts the request body as part `part` and sends it upstream; returns the upstream answer. */
async function sendEncrypted(c: Ctx, key: Buffer, part: number, rawQuery: string, headers: Record<string, string>) {
  const plan = planBody(c.req.headers, c.auth)
  const source = sealChunks(key, part, plan.length, c.o.pad, counted(clientBody(c.req, c.req.headers, c.auth, plan), c.o.metrics))
  const up = await upstreamRequest(c.o.upstream, {
    method: 'PUT',
    rawPath: c.rawPath,
    rawQuery,
    headers,
    body: {source, chunkSizes: chunkSizes(plan.length, c.o.pad), release: chunkPool.give, clientSigned: !UNSIGNED_PAYLOADS.includes(c.auth.payloadHash)},
  })
  return {up, plan}
}

/** Plaintext on its way to the encryptor: counted, and a scavenge every few MiB (release.ts). (GET counts in sendPlaintext.) */
async function* counted(src: AsyncIterable<Buffer>, m: ProxyMetrics): AsyncGenerator<Buffer> {
  for await (const b of src) {
    m.bytesEncrypted += b.length
    released(b.length)
    yield b
  }
}

async function putObject(c: Ctx): Promise<void> {
  const {key, wrapped} = await c.o.keys.newDataKey()
  try {
    const plan = planBody(c.req.headers, c.auth)
    const manifest: Manifest = {version: VERSION, padded: c.o.pad, parts: [{part: 1, length: plan.length}]}
    const env: Envelope = {keyName: c.o.keys.options.key, wrapped: wrapped.ciphertext, sealedManifest: sealManifest(key, manifest)}
    const {up, plan: done} = await sendEncrypted(c, key, 1, c.rawQuery, {...forwardHeaders(c.req), ...envelopeHeaders(env)})
    if (up.status !== 200) return upstreamError(c, up)
    await up.text()
    c.res.setHeader('etag', String(up.headers.etag ?? ''))
    if (done.checksum?.value) c.res.setHeader(`x-amz-checksum-${done.checksum.alg}`, done.checksum.value)
    c.res.setHeader('x-cloudtaser-encryption', `aes-256-gcm-segmented-v${VERSION}`)
    c.res.writeHead(200, {'content-length': 0}).end()
  } finally {
    key.fill(0)
  }
}

function notEncrypted(c: Ctx): void {
  if (c.o.requireEncrypted) throw s3Error('EncryptionRequired', 'the object is not encrypted and this proxy runs with --require-encrypted')
  c.o.metrics.legacyReads++
  c.res.setHeader('x-cloudtaser-encryption', 'none')
}

type Range = {first: number; last: number} | undefined

function parseRange(h: string | undefined, size: number): Range {
  if (!h) return undefined
  const m = /^bytes=(\d*)-(\d*)$/.exec(h.trim())
  if (!m || (m[1] === '' && m[2] === '')) return undefined // S3 ignores a range it cannot parse
  let first: number
  let last: number
  if (m[1] === '') {
    const n = Number(m[2])
    if (n === 0) throw s3Error('InvalidRange', 'the requested range is not satisfiable')
    first = Math.max(0, size - n)
    last = size - 1
  } else {
    first = Number(m[1])
    last = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
    if (m[2] !== '' && Number(m[2]) < first) return undefined
  }
  if (first >= size) throw s3Error('InvalidRange', 'the requested range is not satisfiable')
  return {first, last}
}

async function getObject(c: Ctx): Promise<void> {
  const head = c.op === 'HeadObject'
  const ranged = typeof c.req.headers.range === 'string'
  if (c.query.has('partNumber')) throw s3Error('NotImplemented', 'GET/HEAD by partNumber is not supported through the encrypting proxy; use Range')
  // A ranged read needs the manifest before it knows which ciphertext to ask for: HEAD first.
  const first = await upstreamRequest(c.o.upstream, {
    method: head || ranged ? 'HEAD' : 'GET',
    rawPath: c.rawPath,
    rawQuery: c.rawQuery,
    headers: Object.fromEntries(Object.entries(forwardHeaders(c.req)).filter(([k]) => k !== 'range')),
  })
  if (first.status >= 300) {
    if (head) first.res.resume()
    return upstreamError(c, first)
  }
  const env = envelopeOf(first.headers)
  if (!env) {
    try {
      notEncrypted(c)
    } catch (err) {
      first.res.destroy()
      throw err
    }
    if (head || !ranged) return relay(c, first)
    first.res.resume()
    return relay(c, await upstreamRequest(c.o.upstream, {method: 'GET', rawPath: c.rawPath, rawQuery: c.rawQuery, headers: forwardHeaders(c.req)}))
  }
  let opened
  try {
    opened = await openEnvelope(c.o.keys, env)
  } catch (err) {
    first.res.resume()
    throw err
  }
  const size = plaintextSize(opened.manifest)
  copyResponseHeaders(c.res, first.headers)
  c.res.setHeader('accept-ranges', 'bytes')
  c.res.setHeader('x-cloudtaser-encryption', `aes-256-gcm-segmented-v${opened.manifest.version}`)
  if (head) {
    c.res.writeHead(200, {'content-length': size}).end()
    return
  }
  const range = parseRange(c.req.headers.range as string | undefined, size)
  const want = range ?? {first: 0, last: size - 1}
  const refs = size === 0 ? [] : coveringSegments(opened.manifest, want.first, want.last)
  let body: UpstreamResponse
  const salts = new Map<number, Buffer>()
  if (ranged) {
    if (refs.length === 0) {
      c.res.writeHead(200, {'content-length': 0}).end()
      return
    }
    // The same object version as the HEAD, or a clean 412 instead of mixed bytes.
    const ranged = (start: number, end: number) =>
      upstreamRequest(c.o.upstream, {method: 'GET', rawPath: c.rawPath, rawQuery: c.rawQuery, headers: {range: `bytes=${start}-${end}`, 'if-match': String(first.headers.etag ?? '*')}})
    // A read starting inside a part needs that part's salt (16 bytes at the part's start) first.
    const salt = partSaltAt(opened.manifest, refs)
    if (salt) {
      const r = await ranged(salt.ctOffset, salt.ctOffset + SALT - 1)
      if (r.status !== 206 && r.status !== 200) return upstreamError(c, r)
      const b = await r.bytes()
      if (b.length !== SALT) throw integrityError(`part ${salt.part}: its salt is cut short`)
      salts.set(salt.part, b)
    }
    body = await ranged(refs[0]!.ctOffset, refs.at(-1)!.ctOffset + refs.at(-1)!.ctLength - 1)
    if (body.status !== 206 && body.status !== 200) return upstreamError(c, body)
  } else body = first
  const status = range ? 206 : 200
  const headers: Record<string, string | number> = {'content-length': size === 0 ? 0 : want.last - want.first + 1}
  if (range) headers['content-range'] = `bytes ${want.first}-${want.last}/${size}`
  // Headers go out with the first authenticated plaintext, so early tampering is a clean S3 error.
  await sendPlaintext(c, new SegmentOpener(opened.key, refs, salts), body.res, () => c.res.writeHead(status, headers))
}

/**
 * Decrypts `src` into the response as it arrives, in 'data' events rather than async iteration
 * (no promise per 64 KiB). The decipher's output buffers go to the socket as they are, gathered
 * (corked) into one writev per ~1 MiB: one system call and one wake-up of the client per MiB,
 * without copying them into a batch first (that copy was ~10 % of the proxy's CPU on a GET). The
 * upstream is paused while more than BUFFERED bytes wait for the client.
 */
async function sendPlaintext(c: Ctx, opener: SegmentOpener, src: IncomingMessage, head: () => void): Promise<void> {
  let started = false
  let corked = 0
  const start = () => {
    if (started) return
    started = true
    head()
  }
  const emit = (b: Buffer) => {
    start()
    c.o.metrics.bytesDecrypted += b.length
    released(b.length)
    if (corked === 0) c.res.cork()
    corked += b.length
    c.res.write(b, () => free(b))
    if (corked >= BATCH) {
      corked = 0
      c.res.uncork()
    }
  }
  await new Promise<void>((resolve, reject) => {
    const fail = (err: unknown) => {
      if (corked > 0) {
        corked = 0
        c.res.uncork()
      }
      src.destroy()
      reject(err)
    }
    src.on('data', (chunk: Buffer) => {
      try {
        opener.push(chunk, emit)
      } catch (err) {
        fail(err)
        return
      }
      if (c.res.writableLength > BUFFERED && !src.isPaused()) {
        // Corked bytes are not written, so 'drain' would never come: send them first.
        if (corked > 0) {
          corked = 0
          c.res.uncork()
        }
        src.pause()
        c.res.once('drain', () => src.resume())
      }
    })
    src.once('end', () => {
      try {
        opener.end()
      } catch (err) {
        reject(err)
        return
      }
      start()
      if (corked > 0) c.res.uncork()
      resolve()
    })
    src.once('error', fail)
    c.res.once('close', () => {
      if (!c.res.writableFinished) fail(new Error('the client closed the connection'))
    })
  })
  c.res.end()
}

async function copyObject(c: Ctx): Promise<void> {
  if (c.req.headers['x-amz-metadata-directive']?.toString().toUpperCase() !== 'REPLACE') {
    // The ciphertext and its envelope travel together: nothing to re-encrypt.
    return relay(c, await upstreamRequest(c.o.upstream, {method: 'PUT', rawPath: c.rawPath, rawQuery: c.rawQuery, headers: forwardHeaders(c.req)}))
  }
  const source = String(c.req.headers['x-amz-copy-source']).replace(/^\/?/, '/')
  const [srcPath, srcQuery = ''] = source.split('?')
  const head = await upstreamRequest(c.o.upstream, {method: 'HEAD', rawPath: srcPath!, rawQuery: srcQuery})
  head.res.resume()
  if (head.status !== 200) throw s3Error(head.status === 404 ? 'NoSuchKey' : 'AccessDenied', `the copy source answered HTTP ${head.status}`, head.status)
  const env = envelopeOf(head.headers)
  const headers = {...forwardHeaders(c.req), ...(env ? envelopeHeaders(env) : {}), 'x-amz-copy-source-if-match': String(head.headers.etag ?? '')}
  await relay(c, await upstreamRequest(c.o.upstream, {method: 'PUT', rawPath: c.rawPath, rawQuery: c.rawQuery, headers}))
}

/** Upload IDs the client sees carry the wrapped key, so parts can be encrypted by any proxy replica, restarts included. */
const SEP = '.ctsr.'
function splitUploadId(id: string, continuing = true): {upstreamId: string; env: Envelope; padded: boolean} {
  const at = id.lastIndexOf(SEP)
  if (at < 0) throw s3Error('NoSuchUpload', 'the upload ID was not issued by this proxy (use the ID CreateMultipartUpload returned through it)', 404)
  let t: {k: string; w: string; p: boolean; v?: number}
  try {
    t = JSON.parse(Buffer.from(id.slice(at + SEP.length), 'base64url').toString('utf8')) as typeof t
  } catch {
    throw s3Error('NoSuchUpload', 'the upload ID is malformed', 404)
  }
  // Parts of one object share its format; an upload begun by a format-1 proxy cannot be continued.
  if (continuing && t.v !== VERSION) throw s3Error('NoSuchUpload', `the upload was started by a proxy writing format ${t.v ?? 1}; abort it and upload again`, 404)
  return {upstreamId: id.slice(0, at), env: {keyName: t.k, wrapped: t.w}, padded: t.p}
}

function withUploadId(rawQuery: string, upstreamId: string): string {
  return rawQuery
    .split('&')
    .map((p) => (p.startsWith('uploadId=') ? `uploadId=${uriEncode(upstreamId)}` : p))
    .join('&')
}

async function createMultipart(c: Ctx): Promise<void> {
  const {key, wrapped} = await c.o.keys.newDataKey()
  key.fill(0)
  const env: Envelope = {keyName: c.o.keys.options.key, wrapped: wrapped.ciphertext}
  const up = await upstreamRequest(c.o.upstream, {method: 'POST', rawPath: c.rawPath, rawQuery: c.rawQuery, headers: {...forwardHeaders(c.req), ...envelopeHeaders(env)}})
  const text = await up.text()
  if (up.status !== 200) return sendXml(c, up.status, text, up)
  const upstreamId = xmlText(text, 'UploadId')
  if (!upstreamId) throw s3Error('InternalError', 'the server answered CreateMultipartUpload without an UploadId', 502)
  const token = Buffer.from(JSON.stringify({k: env.keyName, w: env.wrapped, p: c.o.pad, v: VERSION})).toString('base64url')
  sendXml(c, 200, text.replace(/<UploadId>[^<]*<\/UploadId>/, `<UploadId>${xmlEscape(upstreamId + SEP + token)}</UploadId>`), up)
}

function sendXml(c: Ctx, status: number, text: string, up?: UpstreamResponse): void {
  if (up) copyResponseHeaders(c.res, up.headers)
  c.res.writeHead(status, {'content-type': 'application/xml', 'content-length': Buffer.byteLength(text)})
  c.res.end(text)
}

async function uploadPart(c: Ctx): Promise<void> {
  const {upstreamId, env, padded} = splitUploadId(c.query.get('uploadId') ?? '')
  const part = Number(c.query.get('partNumber'))
  if (!Number.isInteger(part) || part < 1 || part > 10_000) throw s3Error('InvalidArgument', 'partNumber must be an integer from 1 to 10000')
  const key = await c.o.keys.unwrap(env.keyName, env.wrapped)
  const {up, plan} = await sendEncrypted({...c, o: {...c.o, pad: padded}}, key, part, withUploadId(c.rawQuery, upstreamId), forwardHeaders(c.req))
  if (up.status !== 200) return upstreamError(c, up)
  await up.text()
  // The part's plaintext length rides in its ETag: CompleteMultipartUpload needs it for the manifest.
  const etag = String(up.headers.etag ?? '').replace(/"/g, '')
  c.res.setHeader('etag', `"${etag}.${plan.length}"`)
  if (plan.checksum?.value) c.res.setHeader(`x-amz-checksum-${plan.checksum.alg}`, plan.checksum.value)
  c.res.writeHead(200, {'content-length': 0}).end()
}

async function completeMultipart(c: Ctx): Promise<void> {
  const {upstreamId, env, padded} = splitUploadId(c.query.get('uploadId') ?? '')
  const body = (await smallBody(c))?.toString('utf8') ?? ''
  const parts = xmlAll(body, 'Part').map((p) => {
    const part = Number(xmlText(p, 'PartNumber'))
    const m = /^"?([^".]+)\.(\d+)"?$/.exec(xmlText(p, 'ETag') ?? '')
    if (!Number.isInteger(part) || !m) throw s3Error('InvalidPart', `part ${part}: the ETag is not one this proxy returned for UploadPart`)
    return {part, etag: m[1]!, length: Number(m[2])}
  })
  if (parts.length === 0) throw s3Error('MalformedXML', 'CompleteMultipartUpload names no parts')
  const manifest: Manifest = {version: VERSION, padded, parts: parts.map(({part, length}) => ({part, length}))}
  const key = await c.o.keys.unwrap(env.keyName, env.wrapped)
  const sealed = sealManifest(key, manifest)
  if (sealed.length > 1500) throw s3Error('InvalidRequest', 'too many distinct part sizes for the encrypted manifest (use equal part sizes)')
  const xml = `<CompleteMultipartUpload>${parts.map((p) => `<Part><PartNumber>${p.part}</PartNumber><ETag>"${p.etag}"</ETag></Part>`).join('')}</CompleteMultipartUpload>`
  const rawQuery = withUploadId(c.rawQuery, upstreamId)
  const up = await upstreamRequest(c.o.upstream, {method: 'POST', rawPath: c.rawPath, rawQuery, headers: {'content-type': 'application/xml'}, body: Buffer.from(xml)})
  const text = await up.text()
  if (up.status !== 200 || /<Error>/.test(text)) return sendXml(c, up.status === 200 ? 500 : up.status, text, up)
  // S3 takes no metadata at completion: copy the object onto itself with the manifest added.
  const head = await upstreamRequest(c.o.upstream, {method: 'HEAD', rawPath: c.rawPath, rawQuery: ''})
  head.res.resume()
  if (head.status !== 200) throw s3Error('InternalError', `HEAD after CompleteMultipartUpload answered HTTP ${head.status}`, 502)
  const copied = await upstreamRequest(c.o.upstream, {
    method: 'PUT',
    rawPath: c.rawPath,
    rawQuery: '',
    headers: {
      ...replayableHeaders(head.headers),
      ...envelopeHeaders({...env, sealedManifest: sealed}),
      'x-amz-copy-source': c.rawPath,
      'x-amz-copy-source-if-match': String(head.headers.etag ?? ''),
      'x-amz-metadata-directive': 'REPLACE',
    },
  })
  const copyText = await copied.text()
  if (copied.status !== 200) return sendXml(c, copied.status, copyText, copied)
  const etag = xmlText(copyText, 'ETag')
  sendXml(c, 200, etag ? text.replace(/<ETag>[^<]*<\/ETag>/, `<ETag>${etag}</ETag>`) : text, up)
}

async function multipartById(c: Ctx): Promise<void> {
  // Abort and ListParts work for an upload of any format.
  const {upstreamId} = splitUploadId(c.query.get('uploadId') ?? '', false)
  await relay(c, await upstreamRequest(c.o.upstream, {method: c.req.method!, rawPath: c.rawPath, rawQuery: withUploadId(c.rawQuery, upstreamId)}))
}

function urlDecodeKey(key: string): string {
  try {
    return decodeURIComponent(key.replace(/\+/g, ' '))
  } catch {
    return key
  }
}

/** Sizes in listings are the plaintext sizes (a HEAD and a cached unwrap per encrypted object). */
async function listObjects(c: Ctx): Promise<void> {
  const up = await upstreamRequest(c.o.upstream, {method: 'GET', rawPath: c.rawPath, rawQuery: c.rawQuery, headers: forwardHeaders(c.req)})
  const text = await up.text()
  if (up.status !== 200) return sendXml(c, up.status, text, up)
  const blocks = xmlAll(text, 'Contents')
  const urlEncoded = xmlText(text, 'EncodingType') === 'url'
  const sizes = new Map<string, number>()
  let next = 0
  const worker = async () => {
    while (next < blocks.length) {
      const b = blocks[next++]!
      const key = xmlText(b, 'Key')!
      // With encoding-type=url (the AWS CLI's default) keys arrive percent-encoded.
      const name = urlEncoded ? urlDecodeKey(key) : key
      const head = await upstreamRequest(c.o.upstream, {method: 'HEAD', rawPath: objectPath(c.bucket, name), rawQuery: ''})
      head.res.resume()
      const env = head.status === 200 ? envelopeOf(head.headers) : undefined
      if (env) sizes.set(key, plaintextSize((await openEnvelope(c.o.keys, env)).manifest))
    }
  }
  await Promise.all(Array.from({length: Math.min(8, blocks.length)}, worker))
  const out = text.replace(/<Contents>([\s\S]*?)<\/Contents>/g, (whole, inner: string) => {
    const size = sizes.get(xmlText(inner, 'Key')!)
    return size === undefined ? whole : `<Contents>${inner.replace(/<Size>\d+<\/Size>/, `<Size>${size}</Size>`)}</Contents>`
  })
  sendXml(c, 200, out, up)
}

const ROUTES: Record<string, (c: Ctx) => Promise<void>> = {
  ListBuckets: passthrough,
  Passthrough: passthrough,
  ListObjectsV2: listObjects,
  ListObjects: listObjects,
  PutObject: putObject,
  GetObject: getObject,
  HeadObject: getObject,
  DeleteObject: passthrough,
  CopyObject: copyObject,
  CreateMultipartUpload: createMultipart,
  UploadPart: uploadPart,
  UploadPartCopy: async () => {
    throw s3Error('NotImplemented', 'UploadPartCopy is not supported through the encrypting proxy')
  },
  CompleteMultipartUpload: completeMultipart,
  AbortMultipartUpload: multipartById,
  ListParts: multipartById,
}

