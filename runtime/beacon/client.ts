// Client side of the beacon, used by the bridge and the broker: dial every address of the beacon
// at once, send the hello, wait for PAIRED, then run mutual TLS end to end over the relayed bytes
// so the beacon only ever carries ciphertext it has no key for.
import dns from 'node:dns'
import net from 'node:net'
import tls from 'node:tls'
import {CloudtaserError, ExitCode, type ErrorCode} from '../../lib/errors.js'
import {encodeHello, Status, statusName, STATUS_BYTES, type RoleName} from './protocol.js'

export class BeaconError extends CloudtaserError {
  /** The beacon's status code when it refused us. */
  readonly status?: number
  constructor(code: ErrorCode, message: string, opts: {status?: number; hint?: string; cause?: unknown} = {}) {
    super(code, message, {exitCode: ExitCode.UNAVAILABLE, hint: opts.hint, cause: opts.cause, details: opts.status === undefined ? undefined : {status: statusName(opts.status)}})
    this.status = opts.status
  }
}

export interface BeaconDialOptions {
  /** host:port, [v6]:port or host (port 443). */
  address: string
  role: RoleName
  infoHash: Buffer
  /** TLS to the beacon (or to the load balancer in front of it); false only for a plain beacon on a trusted network. */
  tls?: false | Omit<tls.ConnectionOptions, 'host' | 'port' | 'socket'>
  /** TCP connect (and outer TLS handshake) across all addresses. Default 10 s. */
  connectTimeoutMs?: number
  signal?: AbortSignal
  /** Override name resolution (tests); default resolves every A and AAAA record. */
  lookup?: (host: string) => Promise<string[]>
  /** Called when the beacon queued us (no peer yet). */
  onWaiting?: () => void
  /**
   * Where the pairing happens, when not at a beacon: a broker in reverse-connect mode is itself
   * the place the bridge dials (runtime/broker/reverse.ts). Default: dialBeacon.
   */
  dial?: (o: BeaconDialOptions) => Promise<net.Socket>
}

export function splitAddress(address: string): {host: string; port: number} {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(address) ?? /^([^:]+)(?::(\d+))?$/.exec(address)
  if (m) return {host: m[1]!, port: m[2] ? Number(m[2]) : 443}
  if (net.isIPv6(address)) return {host: address, port: 443}
  throw new BeaconError('BEACON_BAD_ADDRESS', `cannot parse beacon address "${address}"`, {hint: 'Use host:port, e.g. beacon.example.com:443.'})
}

export async function lookupAll(host: string): Promise<string[]> {
  if (net.isIP(host)) return [host]
  const found = await dns.promises.lookup(host, {all: true, order: 'verbatim'})
  return [...new Set(found.map((a) => a.address))]
}

/** Connect to all addresses in parallel; the first to finish TCP (and TLS) wins, the rest are cut. */
export function dialFirst(
  addresses: string[],
  port: number,
  tlsOpts: BeaconDialOptions['tls'],
  servername: string | undefined,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const pending = new Set<net.Socket>()
    const errors: Error[] = []
    let done = false
    const finish = (winner?: net.Socket, err?: Error): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      for (const s of pending) if (s !== winner) s.destroy()
      if (winner) {
        winner.removeAllListeners('error')
        resolve(winner)
      } else reject(err)
    }
    const onAbort = (): void => finish(undefined, new BeaconError('BEACON_ABORTED', 'dial aborted'))
    const timer = setTimeout(
      () => finish(undefined, new BeaconError('BEACON_UNREACHABLE', `no beacon address answered within ${timeoutMs} ms`)),
      timeoutMs,
    )
    signal?.addEventListener('abort', onAbort, {once: true})
    if (signal?.aborted) return onAbort()
    for (const host of addresses) {
      const s = tlsOpts
        ? tls.connect({...tlsOpts, host, port, servername: tlsOpts.servername ?? servername, allowHalfOpen: true} as tls.ConnectionOptions)
        : net.connect({host, port, allowHalfOpen: true, noDelay: true})
      if (tlsOpts) s.setNoDelay(true)
      pending.add(s)
      s.once(tlsOpts ? 'secureConnect' : 'connect', () => finish(s))
      s.once('error', (err) => {
        pending.delete(s)
        errors.push(err)
        if (pending.size === 0)
          finish(
            undefined,
            new BeaconError('BEACON_UNREACHABLE', `cannot reach the beacon on any address: ${errors.map((e) => e.message).join('; ')}`, {
              hint: 'Check the beacon address, outbound TCP 443 and the beacon certificate (--ca).',
              cause: new AggregateError(errors),
            }),
          )
      })
    }
  })
}

/**
 * Send the hello and read status frames until PAIRED. Bytes the peer sent right behind PAIRED are
 * pushed back onto the socket, which is returned paused for the next reader.
 */
export function exchangeHello(sock: net.Socket, role: RoleName, infoHash: Buffer, onWaiting?: () => void, signal?: AbortSignal): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0)
    const cleanup = (): void => {
      sock.off('data', onData)
      sock.off('end', onClose)
      sock.off('close', onClose)
      sock.off('error', onError)
      signal?.removeEventListener('abort', onAbort)
    }
    const fail = (err: Error): void => {
      cleanup()
      sock.destroy()
      reject(err)
    }
    const onData = (chunk: Buffer): void => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk
      while (buf.length >= STATUS_BYTES) {
        const code = buf[1]!
        if (code === Status.WAITING) {
          buf = buf.subarray(STATUS_BYTES)
          onWaiting?.()
          continue
        }
        if (code === Status.PAIRED) {
          cleanup()
          sock.pause()
          const rest = buf.subarray(STATUS_BYTES)
          if (rest.length > 0) sock.unshift(rest)
          resolve(sock)
          return
        }
        fail(
          new BeaconError('BEACON_REJECTED', `beacon refused the connection: ${statusName(code)} (protocol v${buf[0]})`, {
            status: code,
            hint: code === Status.MATCH_TIMEOUT ? 'No peer with the same info hash connected in time; the client redials.' : undefined,
          }),
        )
        return
      }
    }
    const onClose = (): void => fail(new BeaconError('BEACON_CLOSED', 'beacon closed the connection before pairing'))
    const onError = (err: Error): void => fail(new BeaconError('BEACON_CLOSED', `beacon connection failed: ${err.message}`, {cause: err}))
    const onAbort = (): void => fail(new BeaconError('BEACON_ABORTED', 'aborted while waiting for a peer'))
    sock.on('data', onData)
    // Half-open sockets (the relay supports half-close) see 'end' and no 'close' when the beacon
    // or a proxy in front of it goes away before pairing: without this the dial waited forever.
    sock.once('end', onClose)
    sock.once('close', onClose)
    sock.once('error', onError)
    signal?.addEventListener('abort', onAbort, {once: true})
    if (signal?.aborted) return onAbort()
    sock.write(encodeHello(role, infoHash))
  })
}

/** Dial the beacon and wait to be paired; returns the relayed byte stream (outer transport). */
export async function dialBeacon(o: BeaconDialOptions): Promise<net.Socket> {
  const {host, port} = splitAddress(o.address)
  const addresses = await (o.lookup ?? lookupAll)(host)
  if (addresses.length === 0) throw new BeaconError('BEACON_UNREACHABLE', `${host} has no A or AAAA records`)
  const sock = await dialFirst(addresses, port, o.tls ?? {}, net.isIP(host) ? undefined : host, o.connectTimeoutMs ?? 10_000, o.signal)
  return exchangeHello(sock, o.role, o.infoHash, o.onWaiting, o.signal)
}

export interface InnerTlsOptions {
  key: string | Buffer
  cert: string | Buffer
  /** The tenant CA: the only trust anchor on both sides. */
  ca: string | Buffer
  /** Peer identity beyond "signed by the tenant CA"; default accepts any name the CA signed. */
  checkServerIdentity?: tls.ConnectionOptions['checkServerIdentity']
  handshakeTimeoutMs?: number
}

/**
 * Mutual TLS over the relayed stream. The bridge (next to OpenBao) is the TLS server, the broker
 * the client; both require a certificate from the tenant CA.
 */
export function startInnerTls(stream: net.Socket, role: RoleName, o: InnerTlsOptions): Promise<tls.TLSSocket> {
  const timeoutMs = o.handshakeTimeoutMs ?? 10_000
  return new Promise((resolve, reject) => {
    const fail = (err: Error): void => {
      clearTimeout(timer)
      stream.destroy()
      reject(new BeaconError('BEACON_PEER_TLS', `end-to-end mTLS with the ${role === 'bridge' ? 'broker' : 'bridge'} failed: ${err.message}`, {cause: err}))
    }
    const timer = setTimeout(() => fail(new Error(`no handshake within ${timeoutMs} ms`)), timeoutMs)
    if (role === 'broker') {
      const s = tls.connect({
        socket: stream,
        key: o.key,
        cert: o.cert,
        ca: o.ca,
        minVersion: 'TLSv1.3',
        checkServerIdentity: o.checkServerIdentity ?? (() => undefined),
      })
      s.once('secureConnect', () => {
        clearTimeout(timer)
        s.removeListener('error', fail)
        resolve(s)
      })
      s.once('error', fail)
    } else {
      // A tls.Server (never listening) performs the server-side client-certificate verification
      // that a bare TLSSocket would skip.
      const server = tls.createServer({key: o.key, cert: o.cert, ca: o.ca, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3'})
      server.once('secureConnection', (s: tls.TLSSocket) => {
        clearTimeout(timer)
        resolve(s)
      })
      server.once('tlsClientError', fail)
      stream.once('error', fail)
      server.emit('connection', stream)
    }
  })
}

export interface BeaconClientOptions extends BeaconDialOptions {
  /** End-to-end mTLS material; without it sessions get the raw relayed stream. */
  inner?: InnerTlsOptions
  onSession: (stream: net.Socket) => void | Promise<void>
  /**
   * serial: dial again only after the session ended (a broker's single link).
   * parallel: dial again as soon as paired, so one connection is always waiting (a bridge serving many brokers).
   */
  mode?: 'serial' | 'parallel'
  /**
   * Wait on every address the beacon's name resolves to, not only on the first to answer (the
   * bridge): with several beacon replicas behind one name, a broker reaches any one of them and
   * must find the bridge there. Re-resolved every `resolveMs` (default 30 s).
   */
  everyAddress?: boolean
  resolveMs?: number
  backoff?: {baseMs?: number; maxMs?: number}
  onError?: (err: Error, nextDelayMs: number) => void
}

/** Full-jitter exponential backoff: uniform in [0, min(max, base * 2^attempt)]. */
export const backoffDelay = (attempt: number, baseMs = 250, maxMs = 30_000, random = Math.random): number =>
  Math.floor(random() * Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30)))

export interface BeaconClient {
  /** Sessions handed to onSession so far. */
  readonly sessions: number
  stop(): Promise<void>
}

/** How long stop() lets open sessions end by themselves. */
const STOP_GRACE_MS = 2_000

export function runBeaconClient(o: BeaconClientOptions): BeaconClient {
  if (o.everyAddress) return runOnEveryAddress(o)
  const ac = new AbortController()
  const active = new Set<Promise<void>>()
  const open = new Set<net.Socket>()
  const state = {sessions: 0}
  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(resolve, ms)
      ac.signal.addEventListener('abort', () => (clearTimeout(t), resolve()), {once: true})
    })
  const loop = (async () => {
    let attempt = 0
    while (!ac.signal.aborted) {
      try {
        const relayed = await (o.dial ?? dialBeacon)({...o, signal: ac.signal})
        const session = o.inner ? await startInnerTls(relayed, o.role, o.inner) : relayed
        attempt = 0
        state.sessions++
        // A reset mid-session must not crash the daemon when onSession forgot an error handler.
        session.on('error', (err) => o.onError?.(err, 0))
        open.add(session)
        const closed = new Promise<void>((resolve) => session.once('close', () => (open.delete(session), resolve())))
        const run = Promise.resolve()
          .then(() => o.onSession(session))
          .then(() => closed)
          .catch((err: Error) => {
            session.destroy()
            o.onError?.(err, 0)
          })
          .finally(() => active.delete(run))
        active.add(run)
        if (o.mode !== 'parallel') await run
      } catch (err) {
        if (ac.signal.aborted) break
        // An unmatched wait is normal (no peer yet): redial quickly, but still jittered so a fleet
        // of bridges does not hit the beacon in lockstep.
        const quiet = err instanceof BeaconError && err.status === Status.MATCH_TIMEOUT
        const delay = quiet ? backoffDelay(0, o.backoff?.baseMs, o.backoff?.maxMs) : backoffDelay(attempt++, o.backoff?.baseMs, o.backoff?.maxMs)
        o.onError?.(err as Error, delay)
        await sleep(delay)
      }
    }
  })()
  return {
    get sessions() {
      return state.sessions
    },
    async stop() {
      ac.abort()
      await loop
      // Sessions get a moment to finish what the caller started (a GOAWAY, an answer), then are cut:
      // a relayed socket whose peer went quiet may never close by itself.
      const settled = Promise.allSettled([...active])
      const grace = new Promise<void>((r) => setTimeout(r, STOP_GRACE_MS).unref())
      await Promise.race([settled, grace])
      for (const s of open) s.destroy()
      await settled
    },
  }
}

/** One client per resolved address (each dials only that address, keeping the name for TLS). */
function runOnEveryAddress(o: BeaconClientOptions): BeaconClient {
  const {host} = splitAddress(o.address)
  const clients = new Map<string, BeaconClient>()
  let stopped = false
  let retired = 0
  const sync = async (): Promise<void> => {
    let found: string[]
    try {
      found = await (o.lookup ?? lookupAll)(host)
    } catch (err) {
      o.onError?.(err as Error, o.resolveMs ?? 30_000)
      return
    }
    if (stopped) return
    for (const a of found) if (!clients.has(a)) clients.set(a, runBeaconClient({...o, everyAddress: false, lookup: async () => [a]}))
    for (const [a, c] of clients) {
      if (found.includes(a)) continue
      clients.delete(a)
      retired += c.sessions
      void c.stop()
    }
  }
  const first = sync()
  const timer = setInterval(() => void sync(), o.resolveMs ?? 30_000)
  timer.unref()
  return {
    get sessions() {
      return retired + [...clients.values()].reduce((n, c) => n + c.sessions, 0)
    },
    async stop() {
      stopped = true
      clearInterval(timer)
      await first
      await Promise.all([...clients.values()].map((c) => c.stop()))
    },
  }
}
