import {checkRequest, endpointOf, httpError, requestHead, ResponseParser} from '../../lib/openbao/http1-transport.js'
import {joinChunks, type Transport, type TransportRequest, type TransportResponse} from '../../lib/openbao/transport.js'
import type {Native} from './native/index.js'

/**
 * The wrapper's transport until the app has started: one blocking exchange per request in the
 * addon (native/http.c: connect, TLS with the given CA only, write, read to EOF), parsed here by
 * the same parser as the event-loop transport. Nothing else runs before the exec, so blocking
 * costs nothing, and the start skips node:net's and node:tls's first use (~10 ms). Request
 * bytes (token, login JWT) and response bytes are zeroed once used.
 *
 * Usable for http, and for https with a given CA; https trusting Node's root store goes through
 * Http1Transport (OpenSSL's compiled-in CA directory is not Node's store).
 */
export class NativeTransport implements Transport {
  constructor(
    private readonly native: Required<Pick<Native, 'httpExchange'>>,
    private readonly ca: string | undefined,
  ) {}

  static usable(native: Native | undefined, addr: string, ca: string | undefined): native is Native & Required<Pick<Native, 'httpExchange'>> {
    return typeof native?.httpExchange === 'function' && (addr.startsWith('http://') || (addr.startsWith('https://') && Boolean(ca)))
  }

  async request(r: TransportRequest): Promise<TransportResponse> {
    checkRequest(r)
    const {host, port, https} = endpointOf(r.url)
    if (https && !this.ca) throw httpError('ERR_TLS_CA', 'the native transport needs the CA to trust')
    const body = typeof r.body === 'string' ? Buffer.from(r.body) : r.body
    const request = Buffer.concat([Buffer.from(requestHead(r, true), 'latin1'), ...(body ? [body] : [])])
    if (typeof r.body === 'string') body!.fill(0)
    const out = this.native.httpExchange(host, port, https ? this.ca! : '', request, r.timeoutMs)
    request.fill(0)
    if ('code' in out) throw httpError(out.code, out.message)
    try {
      const p = new ResponseParser(r.method === 'HEAD')
      if (!(p.push(out.bytes) || p.end())) throw httpError('ECONNRESET', 'OpenBao closed the connection before the response ended', true)
      const {head, chunks, total} = p.result()
      return {status: head.status, retryAfter: head.headers.get('retry-after'), body: joinChunks(chunks, total, r.wipe)}
    } finally {
      out.bytes.fill(0)
    }
  }

  async close(): Promise<void> {}
}
