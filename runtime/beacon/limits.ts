// Every queue and timer the internet can grow has a default bound here.
export interface BeaconLimits {
  /** From TCP accept to a complete hello, TLS handshake included. */
  helloTimeoutMs: number
  /** How long a client may wait for a peer before MATCH_TIMEOUT; clients redial. */
  matchTimeoutMs: number
  /** Waiting connections for one info hash (only one role can be waiting at a time). */
  maxWaitingPerHash: number
  /** Waiting connections in total. */
  maxWaiting: number
  /**
   * Open connections (any state) from one source address; 0 turns the check off, for running
   * behind a load balancer where every connection comes from the balancer's address.
   */
  maxConnectionsPerSource: number
  /** Hello size including extensions. */
  maxHelloBytes: number
  /** On shutdown, how long paired connections may keep relaying. */
  drainTimeoutMs: number
  /** TCP keepalive on every accepted socket so vanished peers are noticed. */
  keepAliveMs: number
}

export const DEFAULT_LIMITS: Readonly<BeaconLimits> = Object.freeze({
  helloTimeoutMs: 5_000,
  matchTimeoutMs: 60_000,
  maxWaitingPerHash: 64,
  maxWaiting: 50_000,
  maxConnectionsPerSource: 256,
  maxHelloBytes: 256,
  drainTimeoutMs: 30_000,
  keepAliveMs: 30_000,
})

export function resolveLimits(partial: Partial<BeaconLimits> = {}): BeaconLimits {
  const limits = {...DEFAULT_LIMITS}
  for (const [k, v] of Object.entries(partial) as [keyof BeaconLimits, number | undefined][]) {
    if (v === undefined) continue
    if (!Number.isFinite(v) || v < 0) throw new RangeError(`beacon limit ${k} must be a non-negative number, got ${v}`)
    limits[k] = v
  }
  if (limits.maxHelloBytes < 40) throw new RangeError('beacon limit maxHelloBytes must be at least 40 (the fixed hello)')
  return limits
}
