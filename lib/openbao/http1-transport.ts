import type {Socket} from 'node:net'
import {joinChunks, type Transport, type TransportRequest, type TransportResponse} from './transport.js'

/**
 * A small HTTP/1.1 client on node:net and node:tls, for the wrapper: a process that starts, makes
 * a few requests to one OpenBao and then mostly sleeps. undici plus node:http cost ~90 ms of
 * start-up to compile and evaluate in the single executable; this is a few hundred lines of
 * nothing to load, and node:tls is loaded only for an https address.
 *
 * Keep-alive connections (at most `maxConnections`, queued beyond), Content-Length, chunked and
 * read-to-close bodies, 1xx skipped. A request that fails on a reused connection before any byte
 * of the answer arrives is sent again once on a fresh one (the server closed the idle connection
 * as we wrote). Errors carry the codes OpenBaoClient retries on (ECONNREFUSED, ECONNRESET,
 * ETIMEDOUT) and TLS codes as node:tls reports them.
 */
export class Http1Transport implements Transport {
  private readonly idle: Conn[] = []
  private readonly waiting: Array<() => void> = []
  private open = 0
  private closed = false

  constructor(private readonly options: {ca?: string; maxConnections?: number} = {}) {}

  async request(r: TransportRequest): Promise<TransportResponse> {
    checkRequest(r)
    let conn = await this.acquire(r.url)
    const reused = conn.exchanges > 0
    try {
      return await this.exchange(conn, r)
    } catch (err) {
      if (!reused || (err as {answered?: boolean}).answered) throw err
      conn = await this.acquire(r.url, true)
      return this.exchange(conn, r)
    }
  }

  private async exchange(conn: Conn, r: TransportRequest): Promise<TransportResponse> {
    try {
      const res = await conn.exchange(r)
      if (res.keepAlive && !this.closed) this.release(conn)
      else conn.destroy()
      return res
    } catch (err) {
      conn.destroy()
      throw err
    }
  }

  private async acquire(url: URL, fresh = false): Promise<Conn> {
    for (;;) {
      if (this.closed) throw httpError('ECONNRESET', 'the client was closed')
      if (!fresh) {
        const i = this.idle.findIndex((c) => c.origin === url.origin)
        if (i >= 0) return this.idle.splice(i, 1)[0]!.take()
      }
      if (this.open < (this.options.maxConnections ?? 4)) {
        this.open++
        return new Conn(url, await socketTo(url, this.options.ca), () => this.gone())
      }
      // An idle connection to another origin gives up its place.
      if (this.idle.length > 0) this.idle.shift()!.destroy()
      else await new Promise<void>((resolve) => this.waiting.push(resolve))
    }
  }

  private release(conn: Conn): void {
    this.idle.push(
      conn.park(() => {
        const i = this.idle.indexOf(conn)
        if (i >= 0) this.idle.splice(i, 1)
      }),
    )
    this.waiting.shift()?.()
  }

  private gone(): void {
    this.open--
    this.waiting.shift()?.()
  }

  async close(): Promise<void> {
    this.closed = true
    for (const c of this.idle.splice(0)) c.destroy()
    for (const w of this.waiting.splice(0)) w()
  }
}

type Tls = typeof import('node:tls')
let tls: Tls | undefined
/** One secure context per CA for the process: building one parses every certificate in it. */
const contexts = new Map<string, import('node:tls').SecureContext>()

async function socketTo(url: URL, ca: string | undefined): Promise<Socket> {
  const {host, port, https} = endpointOf(url)
  // Loaded on first use, not at import: the wrapper's start (its addon's exchange) needs only
  // the parser from this module, and node:net costs ~3 ms to load.
  const {connect: netConnect, isIP} = process.getBuiltinModule('node:net')
  if (!https) return netConnect({host, port})
  tls ??= await import('node:tls')
  let secureContext: import('node:tls').SecureContext | undefined
  if (ca) {
    // A given CA is the only one trusted, as VAULT_CACERT / BAO_CACERT are for the bao CLI and
    // Vault's agent: a publicly trusted certificate for OpenBao's name is not accepted. (Adding
    // Node's ~140 roots would also cost ~10 ms of parsing at the wrapper's start.)
    secureContext = contexts.get(ca)
    if (!secureContext) contexts.set(ca, (secureContext = tls.createSecureContext({ca})))
  }
  return tls.connect({host, port, servername: isIP(host) ? undefined : host, secureContext, rejectUnauthorized: true, ALPNProtocols: ['http/1.1']})
}

/** Where to connect for an http(s) URL: an IPv6 host without its brackets, the scheme's default port. */
export function endpointOf(url: URL): {host: string; port: number; https: boolean} {
  const https = url.protocol === 'https:'
  return {host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(url.port || (https ? 443 : 80)), https}
}

/** An http(s) URL, and no header that could start a header or a request of its own. */
export function checkRequest(r: TransportRequest): void {
  if (r.url.protocol !== 'http:' && r.url.protocol !== 'https:') throw httpError('ERR_INVALID_URL', `not an http(s) URL: ${r.url.protocol}`)
  for (const [k, v] of Object.entries(r.headers)) {
    if (/[\r\n]/.test(k) || /[\r\n]/.test(v)) throw httpError('ERR_INVALID_CHAR', `header ${k} holds a line break`)
  }
}

/** Request line and headers up to the blank line (latin1); `close` asks the server to close after answering. */
export function requestHead(r: TransportRequest, close = false): string {
  let head = `${r.method} ${r.url.pathname}${r.url.search} HTTP/1.1\r\nhost: ${r.url.host}\r\n`
  if (close) head += 'connection: close\r\n'
  for (const [k, v] of Object.entries(r.headers)) head += `${k}: ${v}\r\n`
  if (r.body !== undefined) head += `content-length: ${Buffer.byteLength(r.body)}\r\n`
  return `${head}\r\n`
}

export function httpError(code: string, message: string, answered = false): Error {
  return Object.assign(new Error(message), {code, answered})
}

interface Head {
  status: number
  headers: Map<string, string>
}

/** One socket; one exchange at a time. */
class Conn {
  exchanges = 0
  readonly origin: string
  private unpark: (() => void) | undefined
  private destroyed = false

  constructor(
    url: URL,
    private readonly socket: Socket,
    private readonly onGone: () => void,
  ) {
    this.origin = url.origin
    socket.setNoDelay(true)
    socket.once('close', () => {
      this.destroyed = true
      this.unpark?.()
      this.onGone()
    })
    // Errors reach a pending exchange through its own listener; an idle socket just closes.
    socket.on('error', () => undefined)
  }

  take(): this {
    this.unpark = undefined
    this.socket.ref()
    return this
  }

  park(unpark: () => void): this {
    this.unpark = unpark
    this.socket.setTimeout(0)
    // An idle keep-alive connection never keeps the process alive.
    this.socket.unref()
    return this
  }

  destroy(): void {
    if (!this.destroyed) this.socket.destroy()
    this.destroyed = true
  }

  exchange(r: TransportRequest): Promise<TransportResponse & {keepAlive: boolean}> {
    this.exchanges++
    const s = this.socket
    return new Promise((resolve, reject) => {
      const raw: Buffer[] = []
      const parser = new ResponseParser(r.method === 'HEAD')
      let settled = false
      const finish = (err: Error | undefined) => {
        if (settled) return
        settled = true
        s.off('data', onData)
        s.off('error', onError)
        s.off('end', onEnd)
        s.off('close', onEnd)
        s.off('timeout', onTimeout)
        s.setTimeout(0)
        if (err) {
          if (r.wipe) {
            for (const c of raw) c.fill(0)
            parser.wipe()
          }
          ;(err as {answered?: boolean}).answered ||= raw.length > 0
          reject(err)
          return
        }
        const {head, chunks, total, keepAlive} = parser.result()
        const body = joinChunks(chunks, total, r.wipe)
        if (r.wipe) for (const c of raw) c.fill(0)
        resolve({status: head.status, retryAfter: head.headers.get('retry-after'), body, keepAlive})
      }
      const onData = (chunk: Buffer) => {
        raw.push(chunk)
        try {
          if (parser.push(chunk)) finish(undefined)
        } catch (err) {
          finish(err as Error)
        }
      }
      const onEnd = () => finish(parser.end() ? undefined : httpError('ECONNRESET', 'OpenBao closed the connection before the response ended', raw.length > 0))
      const onError = (err: Error) => finish(err)
      const onTimeout = () => {
        finish(httpError('ETIMEDOUT', `no answer within ${r.timeoutMs} ms`, raw.length > 0))
        s.destroy()
      }
      s.on('data', onData)
      s.on('error', onError)
      s.on('end', onEnd)
      s.on('close', onEnd)
      s.on('timeout', onTimeout)
      s.setTimeout(r.timeoutMs)
      if (this.destroyed) return onEnd()
      s.write(requestHead(r), 'latin1')
      if (r.body !== undefined) s.write(r.body)
    })
  }
}

const CRLFCRLF = Buffer.from('\r\n\r\n')
const MAX_HEAD = 64 * 1024

/**
 * Incremental HTTP/1.1 response parser. Body bytes are kept as views of the socket's chunks
 * (the caller copies and, for secrets, zero-fills them); only the head becomes a string.
 */
export class ResponseParser {
  private pendingHead: Buffer | undefined
  private head: Head | undefined
  private mode: 'length' | 'chunked' | 'close' | 'none' = 'none'
  private remaining = 0
  private chunkState: 'size' | 'data' | 'crlf' | 'trailer' = 'size'
  private line = ''
  private done = false
  private keepAlive = true
  private readonly chunks: Buffer[] = []
  private total = 0

  constructor(private readonly noBody = false) {}

  /** Feed one chunk; true once the response is complete. */
  push(chunk: Buffer): boolean {
    if (this.done) throw httpError('HPE_EXTRA_DATA', 'OpenBao sent data after the response', true)
    let data: Buffer | undefined = chunk
    while (!this.head && data) {
      const buf: Buffer = this.pendingHead ? Buffer.concat([this.pendingHead, data]) : data
      const end = buf.indexOf(CRLFCRLF)
      if (end < 0) {
        if (buf.length > MAX_HEAD) throw httpError('HPE_HEADER_OVERFLOW', 'response headers larger than 64 KiB', true)
        this.pendingHead = buf
        return false
      }
      this.pendingHead = undefined
      const head = parseHead(buf.toString('latin1', 0, end))
      data = buf.length > end + 4 ? buf.subarray(end + 4) : undefined
      if (head.status < 200) continue
      this.start(head)
    }
    if (data && !this.done) this.body(data)
    return this.done
  }

  /** Zero the body bytes seen so far (they may be views of a joined head buffer). */
  wipe(): void {
    for (const c of this.chunks) c.fill(0)
  }

  /** The connection ended: true when that completes the response (a read-to-close body). */
  end(): boolean {
    if (this.head && this.mode === 'close') {
      this.done = true
      this.keepAlive = false
    }
    return this.done
  }

  result(): {head: Head; chunks: Buffer[]; total: number; keepAlive: boolean} {
    return {head: this.head!, chunks: this.chunks, total: this.total, keepAlive: this.keepAlive}
  }

  private start(head: Head): void {
    this.head = head
    const connection = head.headers.get('connection')?.toLowerCase()
    this.keepAlive = connection !== 'close'
    const te = head.headers.get('transfer-encoding')?.toLowerCase()
    const cl = head.headers.get('content-length')
    if (this.noBody || head.status === 204 || head.status === 304) this.done = true
    else if (te !== undefined) {
      if (te !== 'chunked') throw httpError('HPE_INVALID_TRANSFER_ENCODING', `unsupported transfer-encoding ${te}`, true)
      this.mode = 'chunked'
    } else if (cl !== undefined) {
      if (!/^\d+$/.test(cl)) throw httpError('HPE_INVALID_CONTENT_LENGTH', `invalid content-length ${cl}`, true)
      this.mode = 'length'
      this.remaining = Number(cl)
      this.done = this.remaining === 0
    } else {
      this.mode = 'close'
      this.keepAlive = false
    }
  }

  private take(data: Buffer, n: number): Buffer {
    const part = data.subarray(0, n)
    this.chunks.push(part)
    this.total += part.length
    return data.subarray(n)
  }

  private body(data: Buffer): void {
    if (this.mode === 'close') {
      this.take(data, data.length)
      return
    }
    if (this.mode === 'length') {
      const rest = this.take(data, Math.min(this.remaining, data.length))
      this.remaining -= data.length - rest.length
      if (this.remaining === 0) this.done = true
      if (rest.length > 0) throw httpError('HPE_EXTRA_DATA', 'OpenBao sent more than its content-length', true)
      return
    }
    let at = 0
    while (at < data.length && !this.done) {
      if (this.chunkState === 'data') {
        const n = Math.min(this.remaining, data.length - at)
        this.take(data.subarray(at), n)
        at += n
        this.remaining -= n
        if (this.remaining === 0) this.chunkState = 'crlf'
        continue
      }
      const c = data[at++]!
      if (c !== 0x0a) {
        if (this.line.length > 1024) throw httpError('HPE_INVALID_CHUNK_SIZE', 'chunk size line too long', true)
        this.line += String.fromCharCode(c)
        continue
      }
      const line = this.line.replace(/\r$/, '')
      this.line = ''
      if (this.chunkState === 'crlf') {
        if (line !== '') throw httpError('HPE_INVALID_CHUNK', 'chunk not followed by CRLF', true)
        this.chunkState = 'size'
      } else if (this.chunkState === 'size') {
        const m = /^([0-9a-fA-F]{1,12})(;.*)?$/.exec(line)
        if (!m) throw httpError('HPE_INVALID_CHUNK_SIZE', 'invalid chunk size', true)
        this.remaining = parseInt(m[1]!, 16)
        this.chunkState = this.remaining === 0 ? 'trailer' : 'data'
      } else if (line === '') this.done = true
    }
    if (this.done && at < data.length) throw httpError('HPE_EXTRA_DATA', 'OpenBao sent data after the response', true)
  }
}

function parseHead(text: string): Head {
  const lines = text.split('\r\n')
  const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0] ?? '')
  if (!m) throw httpError('HPE_INVALID_STATUS', `not an HTTP/1.1 response: ${JSON.stringify((lines[0] ?? '').slice(0, 40))}`, true)
  const headers = new Map<string, string>()
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':')
    if (i <= 0) throw httpError('HPE_INVALID_HEADER_TOKEN', 'malformed response header line', true)
    const k = l.slice(0, i).trim().toLowerCase()
    const v = l.slice(i + 1).trim()
    // Two Content-Length or Transfer-Encoding headers are how responses get smuggled: refuse.
    if ((k === 'content-length' || k === 'transfer-encoding') && headers.has(k)) throw httpError('HPE_UNEXPECTED_CONTENT_LENGTH', `duplicate ${k}`, true)
    headers.set(k, headers.has(k) ? `${headers.get(k)}, ${v}` : v)
  }
  if (headers.has('content-length') && headers.has('transfer-encoding')) throw httpError('HPE_UNEXPECTED_CONTENT_LENGTH', 'both content-length and transfer-encoding', true)
  return {status: Number(m[1]), headers}
}
