import type {Agent, ClientRequest, IncomingMessage} from 'node:http'
import {joinChunks, type Transport, type TransportRequest, type TransportResponse} from './transport.js'

/**
 * Every OpenBao client's transport (CLI, operator, bridge, S3 proxy): node:http or node:https
 * with a pool of keep-alive connections per server. Not undici: it cost every daemon ~13 MB of
 * RSS (the S3 proxy idle 77 -> 64 MB, docs/s3-proxy.md) for nothing OpenBao needs, and node:http
 * is in the binary already. The module of a scheme is loaded on its first request, not at start.
 * Errors keep node:net's and node:tls's codes (ECONNREFUSED, ECONNRESET, certificate codes);
 * timeouts are ETIMEDOUT: BaoClient classifies them.
 */
export class HttpTransport implements Transport {
  private readonly agents = new Map<string, Agent>()
  private readonly inflight = new Set<Promise<unknown>>()
  private closed = false

  constructor(private readonly options: {ca?: string; connections?: number} = {}) {}

  request(r: TransportRequest): Promise<TransportResponse> {
    if (this.closed) return Promise.reject(Object.assign(new Error('the OpenBao transport is closed'), {code: 'ERR_TRANSPORT_CLOSED'}))
    const p = this.exchange(r)
    this.inflight.add(p)
    const done = () => this.inflight.delete(p)
    p.then(done, done)
    return p
  }

  /** Waits for the requests in flight (as undici's close does), then closes every connection. */
  async close(): Promise<void> {
    this.closed = true
    await Promise.allSettled([...this.inflight])
    for (const agent of this.agents.values()) agent.destroy()
    this.agents.clear()
  }

  private exchange(r: TransportRequest): Promise<TransportResponse> {
    const https = r.url.protocol === 'https:'
    const mod = process.getBuiltinModule(https ? 'node:https' : 'node:http')
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = []
      let total = 0
      let timer: NodeJS.Timeout | undefined
      // Whichever comes first settles; the rest is ignored.
      const fail = (err: Error) => {
        clearTimeout(timer)
        if (r.wipe) for (const c of chunks) c.fill(0)
        chunks.length = 0
        reject(err)
      }
      const expire = (req: ClientRequest, what: string) => () => req.destroy(Object.assign(new Error(`${what} within ${r.timeoutMs} ms`), {code: 'ETIMEDOUT'}))
      const req = mod.request(r.url, {method: r.method, headers: r.headers, agent: this.agent(https)}, (res: IncomingMessage) => {
        // Body: at most timeoutMs between chunks (undici's bodyTimeout).
        clearTimeout(timer)
        timer = setTimeout(expire(req, 'no response body data'), r.timeoutMs)
        res.on('data', (c: Buffer) => {
          chunks.push(c)
          total += c.length
          timer!.refresh()
        })
        // An answer cut mid-body is an error (ECONNRESET "aborted"), never a short body.
        res.once('error', fail)
        res.once('end', () => {
          clearTimeout(timer)
          const retryAfter = res.headers['retry-after']
          resolve({status: res.statusCode ?? 0, retryAfter, body: joinChunks(chunks, total, r.wipe)})
        })
      })
      // Headers: within timeoutMs of a connection being given to the request (undici's
      // headersTimeout; waiting for a free connection of the pool does not count).
      req.once('socket', () => (timer = setTimeout(expire(req, 'no response headers'), r.timeoutMs)))
      req.once('error', fail)
      req.end(r.body)
    })
  }

  private agent(https: boolean): Agent {
    const scheme = https ? 'https' : 'http'
    let agent = this.agents.get(scheme)
    if (!agent) {
      const connections = this.options.connections ?? 16
      // timeout: an idle pooled connection is closed after 4 s, as undici does, so a daemon does
      // not reuse one the server has already dropped.
      const pool = {keepAlive: true, maxSockets: connections, maxFreeSockets: connections, timeout: 4000, scheduling: 'lifo' as const}
      // A given CA is the only one trusted, as BAO_CACERT is for the bao CLI; else Node's CAs.
      agent = https ? new (process.getBuiltinModule('node:https').Agent)({...pool, ca: this.options.ca, rejectUnauthorized: true}) : new (process.getBuiltinModule('node:http').Agent)(pool)
      this.agents.set(scheme, agent)
    }
    return agent
  }
}
