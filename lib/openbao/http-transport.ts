import type {Agent} from 'node:http'
import {exchange} from '../http-exchange.js'
import type {Transport, TransportRequest, TransportResponse} from './transport.js'

/**
 * Every OpenBao client's transport (CLI, operator, bridge, S3 proxy): node:http or node:https
 * with a pool of keep-alive connections per server. Not undici: it cost every process 6-25 MB of
 * RSS (the S3 proxy idle 75 -> 63 MB, 98-117 -> 76-97 MB during a 1 GiB transfer,
 * docs/s3-proxy.md) for nothing OpenBao needs, and node:http is in the binary already. The module of a scheme is loaded on its first request, not at start.
 * Errors keep node:net's and node:tls's codes (ECONNREFUSED, ECONNRESET, certificate codes);
 * a timeout is ETIMEDOUT: BaoClient classifies them.
 */
export class HttpTransport implements Transport {
  private readonly pools = new Map<string, {mod: typeof import('node:http'); agent: Agent}>()
  private inflight = 0
  private drained: Promise<void> | undefined
  private onDrained: (() => void) | undefined
  private closed = false

  constructor(private readonly options: {ca?: string; connections?: number} = {}) {}

  request(r: TransportRequest): Promise<TransportResponse> {
    if (this.closed) return Promise.reject(Object.assign(new Error('the OpenBao transport is closed'), {code: 'ERR_TRANSPORT_CLOSED'}))
    const {mod, agent} = this.pool(r.url.protocol)
    this.inflight++
    const settle = () => {
      if (--this.inflight === 0) this.onDrained?.()
    }
    // timeout: no byte for timeoutMs once the request has a connection, before the headers as
    // between body chunks (undici's headersTimeout and bodyTimeout); waiting for a free
    // connection of the pool does not count.
    const timeoutError = () => Object.assign(new Error(`no data from OpenBao within ${r.timeoutMs} ms`), {code: 'ETIMEDOUT'})
    return exchange(mod.request, r.url, {method: r.method, headers: r.headers, agent, timeout: r.timeoutMs}, r.body, r.wipe === true, timeoutError).then(
      (res) => {
        settle()
        const retryAfter = res.headers['retry-after']
        return {status: res.status, retryAfter, body: res.bytes}
      },
      (err: unknown) => {
        settle()
        throw err
      },
    )
  }

  /** Waits for the requests in flight (as undici's close does), then closes every connection. */
  async close(): Promise<void> {
    this.closed = true
    if (this.inflight > 0) await (this.drained ??= new Promise<void>((resolve) => (this.onDrained = resolve)))
    for (const {agent} of this.pools.values()) agent.destroy()
    this.pools.clear()
  }

  private pool(protocol: string): {mod: typeof import('node:http'); agent: Agent} {
    let pool = this.pools.get(protocol)
    if (!pool) {
      const connections = this.options.connections ?? 16
      // timeout: an idle pooled connection is closed after 4 s, as undici does, so a daemon does
      // not reuse one the server has already dropped (a request's own timeout replaces it while
      // the connection is in use).
      const opts = {keepAlive: true, maxSockets: connections, maxFreeSockets: connections, timeout: 4000, scheduling: 'lifo' as const}
      if (protocol === 'https:') {
        const mod = process.getBuiltinModule('node:https')
        // A given CA is the only one trusted, as BAO_CACERT is for the bao CLI; else Node's CAs.
        pool = {mod: mod as unknown as typeof import('node:http'), agent: new mod.Agent({...opts, ca: this.options.ca, rejectUnauthorized: true})}
      } else {
        const mod = process.getBuiltinModule('node:http')
        pool = {mod, agent: new mod.Agent(opts)}
      }
      this.pools.set(protocol, pool)
    }
    return pool
  }
}
