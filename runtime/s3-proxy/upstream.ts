// Requests to the real S3 server, signed with the proxy's own credentials. Bodies stream: either
// aws-chunked with a signature per chunk (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) or UNSIGNED-PAYLOAD
// with a plain Content-Length; `mirror` picks per request what the client chose for its own body.
// A failing body source aborts the request, so the server never completes (stores) an object
// whose plaintext failed a check.
import http, {type IncomingMessage} from 'node:http'
import https from 'node:https'
import {flow, writeFlow} from './flow.js'
import {chunkSignature, EMPTY_SHA256, sha256hex, signRequest, STREAMING_SIGNED, UNSIGNED, type Credentials} from './sigv4.js'

export interface UpstreamConfig {
  endpoint: URL
  region: string
  credentials: Credentials
  /** mirror: chunk-signed when the client signed its body, unsigned when it did not. */
  payload: 'streaming' | 'unsigned' | 'mirror'
  ca?: string
}

export interface UpstreamRequest {
  method: string
  /** Path-style: /bucket/key, percent-encoded as sent. */
  rawPath: string
  rawQuery: string
  headers?: Record<string, string>
  /**
   * A streamed body: `release` gets each chunk back once the socket has written it; `clientSigned`:
   * whether the client signed the payload this body comes from (for `mirror`).
   */
  body?: Buffer | {source: AsyncIterable<Buffer>; chunkSizes: number[]; release?: (b: Buffer) => void; clientSigned?: boolean}
}

export interface UpstreamResponse {
  status: number
  headers: IncomingMessage['headers']
  res: IncomingMessage
  /** The whole body (small answers only: XML, a part's salt). */
  bytes(): Promise<Buffer>
  text(): Promise<string>
}

const agents = new WeakMap<UpstreamConfig, http.Agent>()
const agentOf = (c: UpstreamConfig) => {
  let a = agents.get(c)
  if (!a) {
    a = c.endpoint.protocol === 'https:' ? new https.Agent({keepAlive: true, ca: c.ca, maxSockets: 64}) : new http.Agent({keepAlive: true, maxSockets: 64})
    agents.set(c, a)
  }
  return a
}

export function closeUpstream(c: UpstreamConfig): void {
  agents.get(c)?.destroy()
  agents.delete(c)
}

const CRLF = Buffer.from('\r\n')
const chunkHeaderLength = (size: number) => size.toString(16).length + ';chunk-signature='.length + 64 + 2
export const encodedLength = (sizes: number[]): number => sizes.reduce((s, n) => s + chunkHeaderLength(n) + n + 2, 0) + chunkHeaderLength(0) + 2

export async function upstreamRequest(c: UpstreamConfig, r: UpstreamRequest): Promise<UpstreamResponse> {
  const basePath = c.endpoint.pathname.replace(/\/+$/, '')
  const rawPath = basePath + r.rawPath
  const headers: Record<string, string> = {host: c.endpoint.host}
  for (const [k, v] of Object.entries(r.headers ?? {})) headers[k.toLowerCase()] = v
  const streaming = r.body !== undefined && !Buffer.isBuffer(r.body)
  const signChunks = streaming && (c.payload === 'mirror' ? (r.body as {clientSigned?: boolean}).clientSigned !== false : c.payload === 'streaming')
  let payloadHash = EMPTY_SHA256
  if (Buffer.isBuffer(r.body)) {
    payloadHash = sha256hex(r.body)
    headers['content-length'] = String(r.body.length)
  } else if (streaming) {
    const {chunkSizes} = r.body as {chunkSizes: number[]}
    const decoded = chunkSizes.reduce((s, n) => s + n, 0)
    if (signChunks) {
      payloadHash = STREAMING_SIGNED
      headers['content-encoding'] = 'aws-chunked'
      headers['x-amz-decoded-content-length'] = String(decoded)
      headers['content-length'] = String(encodedLength(chunkSizes))
    } else {
      payloadHash = UNSIGNED
      headers['content-length'] = String(decoded)
    }
  }
  const signed = {method: r.method, rawPath, rawQuery: r.rawQuery, headers}
  const {scope, signature} = signRequest(signed, c.credentials, c.region, payloadHash)
  const req = (c.endpoint.protocol === 'https:' ? https : http).request({
    method: r.method,
    host: c.endpoint.hostname,
    port: c.endpoint.port || (c.endpoint.protocol === 'https:' ? 443 : 80),
    path: rawPath + (r.rawQuery ? `?${r.rawQuery}` : ''),
    headers,
    agent: agentOf(c),
  })
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    req.once('response', resolve)
    req.once('error', reject)
  })
  // An early answer (an error) must not leave the writer below waiting on 'drain' forever.
  response.catch(() => {})
  const write = (b: Buffer | string) => writeFlow(req, b, response)
  if (Buffer.isBuffer(r.body)) req.end(r.body)
  else if (streaming) {
    const {source, chunkSizes, release} = r.body as {source: AsyncIterable<Buffer>; chunkSizes: number[]; release?: (b: Buffer) => void}
    try {
      let previous = signature
      let i = 0
      for await (const chunk of source) {
        if (chunk.length !== chunkSizes[i++]) throw new Error(`upstream chunk ${i} has ${chunk.length} bytes, ${chunkSizes[i - 1]} planned`)
        if (signChunks) {
          previous = chunkSignature(scope, previous, sha256hex(chunk))
          // Corked: the framing and the chunk leave in one writev, without copying the chunk.
          req.cork()
          req.write(`${chunk.length.toString(16)};chunk-signature=${previous}\r\n`)
          req.write(chunk, () => release?.(chunk))
          req.write(CRLF)
          // The last chunk takes the final zero-length one with it (one write less per upload).
          if (i === chunkSizes.length) req.write(`0;chunk-signature=${(previous = chunkSignature(scope, previous, EMPTY_SHA256))}\r\n\r\n`)
          req.uncork()
          await flow(req, response)
        } else {
          req.write(chunk, () => release?.(chunk))
          await flow(req, response)
        }
      }
      if (i !== chunkSizes.length) throw new Error(`upstream body ended after ${i} of ${chunkSizes.length} chunks`)
      if (signChunks && chunkSizes.length === 0) await write(`0;chunk-signature=${chunkSignature(scope, previous, EMPTY_SHA256)}\r\n\r\n`)
      req.end()
    } catch (err) {
      req.destroy()
      throw err
    }
  } else req.end()
  const res = await response
  const bytes = async () => {
    const parts: Buffer[] = []
    for await (const b of res) parts.push(b as Buffer)
    return Buffer.concat(parts)
  }
  return {
    status: res.statusCode ?? 0,
    headers: res.headers,
    res,
    bytes,
    text: async () => (await bytes()).toString('utf8'),
  }
}
