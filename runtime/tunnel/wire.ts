// What the bridge and the broker say to each other inside the end-to-end TLS the beacon relays
// (docs/bridge.md). Two kinds of session, both TLS 1.3 with the bridge as server:
//
//  init room         one request line (JSON) from the broker, one answer line from the bridge:
//                    the bootstrap (a CSR in, a certificate out), or a refusal.
//  operational room  mTLS; one status line from the bridge (accepted, or refused with a code),
//                    then HTTP/2: each wrapper request is one stream, flow-controlled per stream.
//
// Lines are UTF-8 JSON ending in \n with a size limit; nothing in them is secret.
import type {JsonWebKey} from 'node:crypto'
import type {Duplex} from 'node:stream'

export const TUNNEL_VERSION = 1

export const LIMITS = {
  /** Largest line in the init room or status line (a CSR plus names is ~1 KiB). */
  maxLineBytes: 16 * 1024,
  /** How long either side waits for a line. */
  lineTimeoutMs: 10_000,
  /** HTTP/2 streams open at once per tunnel (wrapper requests in flight). */
  maxConcurrentStreams: 256,
  /** Largest request or response body relayed (OpenBao's own default request limit is 32 MiB; a secret read is KiB). */
  maxBodyBytes: 1024 * 1024,
  /** How long the broker waits for the bridge's answer to one wrapper request. */
  requestTimeoutMs: 30_000,
  /** HTTP/2 PING interval; a tunnel that misses two is torn down and redialled. */
  heartbeatMs: 10_000,
  /** The bridge drops a tunnel with no frame (pings included) for this long. */
  idleTimeoutMs: 35_000,
}

/** Broker -> bridge in the init room. */
export interface BootstrapRequest {
  v: 1
  type: 'bootstrap'
  fingerprint: string
  csr: string
  /** Names and addresses wrappers reach the broker at (its in-cluster Service); checked by the bridge. */
  dnsNames: string[]
  ipAddresses: string[]
  /**
   * Renewal after a broker restart: a ServiceAccount token for the broker's own ServiceAccount,
   * audience brokerAudience(fingerprint), which the bridge checks against the cluster keys and
   * subject it recorded from the last tunnel. Sent only once the bridge's chain matched the CA pin.
   */
  proof?: string
}

/** The audience of a broker's renewal proof: bound to one cluster, useless as an OpenBao login. */
export const brokerAudience = (fingerprint: string) => `cloudtaser-bridge:${fingerprint}`

/** Broker -> bridge on the tunnel: the cluster's keys (for logins and renewals) and the broker's own identity. */
export interface JwksPush {
  issuer: string
  keys: (JsonWebKey & {kid?: string})[]
  /** `system:serviceaccount:<ns>:<name>` of the broker, recorded as the only subject a renewal may carry. */
  subject?: string
}

export type Refusal = {ok: false; code: RefusalCode; message: string}
export type BootstrapAnswer = {ok: true; certificate: string; caCertificate: string; serial: string} | Refusal
/** Bridge -> broker right after the operational mTLS handshake. */
export type SessionStatus = {ok: true; v: 1} | Refusal

export type RefusalCode =
  | 'BRIDGE_NOT_REGISTERED'
  | 'BRIDGE_ALREADY_INITIALIZED'
  | 'BRIDGE_WRONG_ROOM'
  | 'BRIDGE_BAD_CSR'
  | 'BRIDGE_BAD_REQUEST'
  | 'BRIDGE_REVOKED'
  | 'BRIDGE_PROOF_REFUSED'
  | 'BRIDGE_INTERNAL'

/** Bridge-only request paths on the tunnel (never forwarded to OpenBao). */
export const TUNNEL_PATHS = {jwks: '/_cloudtaser/v1/jwks'}
/** Response header the bridge sets when a login's key id is not in its JWKS copy: the broker refreshes and retries once. */
export const JWKS_STALE_HEADER = 'x-cloudtaser-jwks'

/**
 * Resolves once the line is written: HTTP/2 must not take over a TLS socket with a write of
 * ours still in progress (node's http2 asserts on it and aborts the process).
 */
export function writeLine(sock: Duplex, value: unknown): Promise<void> {
  return new Promise((resolve) => sock.write(`${JSON.stringify(value)}\n`, () => resolve()))
}

/**
 * Reads one line, at most LIMITS.maxLineBytes, within the timeout. Bytes after the newline are
 * pushed back (the HTTP/2 preface may follow the status line in the same record).
 */
export function readLine<T>(sock: Duplex, timeoutMs = LIMITS.lineTimeoutMs): Promise<T> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0)
    const done = (err?: Error, value?: T) => {
      clearTimeout(timer)
      sock.off('data', onData)
      sock.off('end', onEnd)
      sock.off('close', onEnd)
      sock.off('error', onError)
      if (err) reject(err)
      else resolve(value as T)
    }
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk])
      const nl = buf.indexOf(0x0a)
      if (nl < 0) {
        if (buf.length > LIMITS.maxLineBytes) done(new Error(`line longer than ${LIMITS.maxLineBytes} bytes`))
        return
      }
      sock.pause()
      const rest = buf.subarray(nl + 1)
      if (rest.length) sock.unshift(rest)
      try {
        done(undefined, JSON.parse(buf.subarray(0, nl).toString('utf8')) as T)
      } catch {
        done(new Error('not a JSON line'))
      }
    }
    const onEnd = () => done(new Error('the peer closed the connection'))
    const onError = (err: Error) => done(err)
    const timer = setTimeout(() => done(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
    sock.on('data', onData)
    sock.once('end', onEnd)
    sock.once('close', onEnd)
    sock.once('error', onError)
    sock.resume()
  })
}

const LOGIN = /^\/v1\/auth\/[A-Za-z0-9._/-]+\/login$/
/** An OpenBao login: the one request that carries a ServiceAccount token instead of an OpenBao token. */
export const isLogin = (method: string, pathname: string) => (method === 'POST' || method === 'PUT') && LOGIN.test(pathname)

/** The `jwt` member of a JSON login body, found without parsing the rest (it may hold other credentials). */
export function jwtOf(body: Buffer | undefined): string | undefined {
  if (!body) return undefined
  const m = /"jwt"\s*:\s*"([A-Za-z0-9_\-.]+)"/.exec(body.toString('latin1'))
  return m?.[1]
}
