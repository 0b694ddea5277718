import type {ClientRequest, IncomingHttpHeaders, IncomingMessage, RequestOptions} from 'node:http'

export interface Exchanged {
  status: number
  headers: IncomingHttpHeaders
  /** The body in a buffer of its own (never a slice of a shared pool). */
  bytes: Buffer
}

/**
 * One request over node:http(s) and its whole answer as bytes, for the clients whose answers
 * may carry secrets: the OpenBao transport (lib/openbao/http-transport.ts) and the Kubernetes
 * client's `send` (Secrets with their values, lib/kube/http.ts). With `wipe`, every received
 * chunk is zero-filled once copied, or when the exchange fails. `options.timeout` is Node's
 * socket idle timer (no byte for that long once the request has a connection); it ends the
 * request with `timeoutError()`. An answer cut mid-body fails (ECONNRESET "aborted"), never
 * yields a short body.
 */
export function exchange(
  request: (url: string | URL, options: RequestOptions, onResponse: (res: IncomingMessage) => void) => ClientRequest,
  url: string | URL,
  options: RequestOptions,
  body: string | Buffer | undefined,
  wipe: boolean,
  timeoutError: () => Error,
): Promise<Exchanged> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let total = 0
    const fail = (err: Error) => {
      if (wipe) for (const c of chunks) c.fill(0)
      chunks.length = 0
      reject(err)
    }
    const req = request(url, options, (res) => {
      res.on('data', (c: Buffer) => {
        chunks.push(c)
        total += c.length
      })
      res.once('error', fail)
      res.once('end', () => resolve({status: res.statusCode ?? 0, headers: res.headers, bytes: joinChunks(chunks, total, wipe)}))
    })
    if (options.timeout !== undefined) req.once('timeout', () => req.destroy(timeoutError()))
    req.once('error', fail)
    req.end(body)
  })
}

/** Copy chunks into one buffer of its own; zero each chunk afterwards when asked. */
export function joinChunks(chunks: Buffer[], total: number, wipe: boolean | undefined): Buffer {
  const out = Buffer.allocUnsafeSlow(total)
  let at = 0
  for (const c of chunks) at += c.copy(out, at)
  if (wipe) for (const c of chunks) c.fill(0)
  return out
}
