import {Agent, request, type Dispatcher} from 'undici'
import {joinChunks, type Transport, type TransportRequest, type TransportResponse} from './transport.js'

/** The CLI's and the operator's transport: undici's pooled keep-alive connections. */
export class UndiciTransport implements Transport {
  private readonly dispatcher: Dispatcher

  constructor(options: {ca?: string; connections?: number; timeoutMs: number}) {
    this.dispatcher = new Agent({
      connections: options.connections ?? 16,
      // A given CA is the only one trusted, as BAO_CACERT is for the bao CLI; else Node's CAs.
      connect: options.ca ? {ca: options.ca, rejectUnauthorized: true} : {rejectUnauthorized: true},
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    })
  }

  async request(r: TransportRequest): Promise<TransportResponse> {
    const res = await request(r.url, {
      method: r.method as Dispatcher.HttpMethod,
      headers: r.headers,
      body: r.body,
      dispatcher: this.dispatcher,
      headersTimeout: r.timeoutMs,
      bodyTimeout: r.timeoutMs,
    })
    const chunks: Buffer[] = []
    let total = 0
    try {
      for await (const c of res.body as AsyncIterable<Buffer>) {
        chunks.push(c)
        total += c.length
      }
    } catch (err) {
      if (r.wipe) for (const c of chunks) c.fill(0)
      throw err
    }
    const retryAfter = res.headers['retry-after']
    return {status: res.statusCode, retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined, body: joinChunks(chunks, total, r.wipe)}
  }

  async close(): Promise<void> {
    await this.dispatcher.close()
  }
}
