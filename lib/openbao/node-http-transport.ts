import http from 'node:http'
import https from 'node:https'
import {joinChunks, type Transport, type TransportRequest, type TransportResponse} from './transport.js'

/**
 * The S3 proxy's transport: node:http(s) with keep-alive. The proxy is a sidecar that lives as
 * long as its Pod and makes a few Transit calls per object; undici, which the CLI and the operator
 * use (undici-transport.ts), costs it ~12 MB of RSS for nothing it needs (docs/s3-proxy.md).
 * Errors keep node:net's codes (ECONNREFUSED, ETIMEDOUT, TLS codes), which BaoClient classifies.
 */
export class NodeHttpTransport implements Transport {
  private readonly agent: http.Agent

  constructor(options: {ca?: string; connections?: number; timeoutMs: number; https: boolean}) {
    const common = {keepAlive: true, maxSockets: options.connections ?? 4}
    // A given CA is the only one trusted, as BAO_CACERT is for the bao CLI; else Node's CAs.
    this.agent = options.https ? new https.Agent({...common, ca: options.ca, rejectUnauthorized: true}) : new http.Agent(common)
  }

  request(r: TransportRequest): Promise<TransportResponse> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = []
      let total = 0
      const fail = (err: Error) => {
        if (r.wipe) for (const c of chunks) c.fill(0)
        reject(err)
      }
      const req = (r.url.protocol === 'https:' ? https : http).request(r.url, {method: r.method, headers: r.headers, agent: this.agent, timeout: r.timeoutMs}, (res) => {
        res.on('data', (c: Buffer) => {
          chunks.push(c)
          total += c.length
        })
        res.once('error', fail)
        res.once('end', () => {
          const retryAfter = res.headers['retry-after']
          resolve({status: res.statusCode ?? 0, retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined, body: joinChunks(chunks, total, r.wipe)})
        })
      })
      req.once('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${r.timeoutMs} ms`), {code: 'ETIMEDOUT'})))
      req.once('error', fail)
      req.end(r.body)
    })
  }

  async close(): Promise<void> {
    this.agent.destroy()
  }
}
