/**
 * How a BaoClient moves bytes: node:http(s) (http-transport.ts) for every client that reaches
 * OpenBao itself (CLI, operator, bridge, S3 proxy), the apiserver's service proxy to the broker
 * for `target migrate --via-broker` (service-proxy-transport.ts). (The wrapper is a Rust executable with its own client:
 * runtime/wrapper/src/http.rs.)
 */
export interface TransportRequest {
  method: string
  url: URL
  headers: Record<string, string>
  body?: string | Buffer
  timeoutMs: number
  /** Zero-fill every received chunk once copied into the returned body (secret-bearing reads). */
  wipe?: boolean
}

export interface TransportResponse {
  status: number
  /** Retry-After as sent, if any. */
  retryAfter?: string
  /** The body in a buffer of its own (never a slice of a shared pool). */
  body: Buffer
}

export interface Transport {
  request(r: TransportRequest): Promise<TransportResponse>
  close(): Promise<void>
}

/** Copy chunks into one buffer of its own; zero each chunk afterwards when asked. */
export function joinChunks(chunks: Buffer[], total: number, wipe: boolean | undefined): Buffer {
  const out = Buffer.allocUnsafeSlow(total)
  let at = 0
  for (const c of chunks) at += c.copy(out, at)
  if (wipe) for (const c of chunks) c.fill(0)
  return out
}
