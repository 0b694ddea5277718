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

