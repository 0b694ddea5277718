// The beacon relay: accepts TCP (optionally TLS), reads one hello, pairs opposite roles that present
// the same info hash, then splices the two sockets. It keeps nothing but live connections.
import net from 'node:net'
import tls, {type SecureContext} from 'node:tls'
import {CloudtaserError, ExitCode} from '../../lib/errors.js'
import {CertWatcher, loadSecureContext} from './cert-reload.js'
import {resolveLimits, type BeaconLimits} from './limits.js'
import {silentLogger, type Logger} from './log.js'
import {BeaconMetrics, type RejectionReason} from './metrics.js'
import {encodeStatus, oppositeRole, parseHello, Status, type Hello, type RoleName} from './protocol.js'

export type ServerState = 'idle' | 'listening' | 'draining' | 'closed'
export type RelayDirection = 'bridge_to_broker' | 'broker_to_bridge'

export interface BeaconServerOptions {
  host?: string
  port?: number
  /** PEM files, polled for changes every reloadIntervalMs (default 5 s). */
  tls?: {certFile: string; keyFile: string; reloadIntervalMs?: number}
  /** Plain TCP, for running behind a TLS-terminating load balancer. */
  plain?: boolean
  limits?: Partial<BeaconLimits>
  logger?: Logger
  metrics?: BeaconMetrics
  backlog?: number
  /**
   * Test-only observer of every relayed chunk (proves the beacon only ever sees ciphertext).
   * It sees payload bytes, so production code must never set it.
   */
  onRelayChunk?: (direction: RelayDirection, chunk: Buffer) => void
}

type ConnState = 'hello' | 'waiting' | 'paired' | 'rejected' | 'closed'

interface Conn {
  readonly sock: net.Socket
  readonly raw: net.Socket
  readonly src: string
  state: ConnState
  secured: boolean
  buf?: Buffer
  timer?: NodeJS.Timeout
  role?: RoleName
  queueKey?: string
  tag?: string
  since: number
  peer?: Conn
  relayed: number
  corked?: boolean
}

export class BeaconServer {
  state: ServerState = 'idle'
  readonly metrics: BeaconMetrics
  readonly limits: BeaconLimits
  private readonly log: Logger
  private readonly server: net.Server
  private readonly conns = new Set<Conn>()
  /** `${role}|${info hash as latin1}` -> waiting connections in arrival order. */
  private readonly queues = new Map<string, Set<Conn>>()
  private readonly perSource = new Map<string, number>()
  private ctx?: SecureContext
  private certWatcher?: CertWatcher
  private closing?: Promise<void>

  constructor(private readonly opts: BeaconServerOptions = {}) {
    this.limits = resolveLimits(opts.limits)
    this.log = opts.logger ?? silentLogger
    this.metrics = opts.metrics ?? new BeaconMetrics()
    if (!opts.plain) {
      if (!opts.tls)
        throw new CloudtaserError('BEACON_NO_CERT', 'the beacon needs a certificate and key, or plain mode', {
          exitCode: ExitCode.USAGE,
          hint: 'Pass --cert and --key, or --plain when a load balancer terminates TLS in front of the beacon.',
        })
      const {certFile, keyFile, reloadIntervalMs = 5_000} = opts.tls
      this.ctx = loadSecureContext(certFile, keyFile)
      this.certWatcher = new CertWatcher(
        certFile,
        keyFile,
        (ctx) => (this.ctx = ctx),
        (ok, error) => {
          this.metrics.certReloads[ok ? 'ok' : 'error']++
          this.log(ok ? 'info' : 'error', ok ? 'cert_reloaded' : 'cert_reload_failed', {error})
        },
        reloadIntervalMs,
      )
    }
    this.server = net.createServer(
      {allowHalfOpen: true, noDelay: true, keepAlive: true, keepAliveInitialDelay: this.limits.keepAliveMs},
      (raw) => this.onConnection(raw),
    )
    this.server.on('error', (err) => this.log('error', 'listener_error', {error: err.message}))
  }

  async listen(): Promise<{host: string; port: number}> {
    const {host = '::', port = 443, backlog = 4096} = this.opts
    await new Promise<void>((resolve, reject) => {
      const fail = (err: NodeJS.ErrnoException): void =>
        reject(
          new CloudtaserError('BEACON_LISTEN_FAILED', `cannot listen on ${host}:${port}: ${err.message}`, {
            exitCode: ExitCode.UNAVAILABLE,
            hint: err.code === 'EACCES' ? 'Ports below 1024 need root or CAP_NET_BIND_SERVICE; or pass --port.' : 'Pick a free --port.',
            cause: err,
          }),
        )
      this.server.once('error', fail)
      this.server.listen({host, port, backlog}, () => {
        this.server.off('error', fail)
        resolve()
      })
    })
    this.state = 'listening'
    const a = this.address()
    this.log('info', 'listening', {host: a.host, port: a.port, tls: !this.opts.plain})
    return a
  }

  address(): {host: string; port: number} {
    const a = this.server.address() as net.AddressInfo
    return {host: a.address, port: a.port}
  }

  /** Force a certificate reload now (also happens on file change). */
  reloadCertificate(): boolean {
    return this.certWatcher?.reload() ?? false
  }

  /**
   * Stop accepting, refuse everyone not yet paired (SHUTTING_DOWN), let pairs relay until they end
   * or the deadline passes, then cut what is left.
   */
  close(drainTimeoutMs = this.limits.drainTimeoutMs): Promise<void> {
    this.closing ??= this.shutdown(drainTimeoutMs)
    return this.closing
  }

  private async shutdown(drainTimeoutMs: number): Promise<void> {
    this.state = 'draining'
    this.certWatcher?.close()
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    for (const c of this.conns) if (c.state === 'hello' || c.state === 'waiting') this.reject(c, Status.SHUTTING_DOWN, 'shutting_down')
    const deadline = Date.now() + drainTimeoutMs
    const paired = (): number => [...this.conns].filter((c) => c.state === 'paired').length
    this.log('info', 'draining', {pairs: this.metrics.pairsActive, deadline_ms: drainTimeoutMs})
    while (paired() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    const cut = paired()
    for (const c of this.conns) c.sock.destroy()
    await closed
    this.state = 'closed'
    this.log('info', 'closed', {pairs_cut: cut})
  }

  private onConnection(raw: net.Socket): void {
    const src = raw.remoteAddress ?? 'unknown'
    if (this.state !== 'listening') {
      raw.destroy()
      return
    }
    const open = this.perSource.get(src) ?? 0
    if (this.limits.maxConnectionsPerSource > 0 && open >= this.limits.maxConnectionsPerSource) {
      this.metrics.rejections.source_limit++
      this.log('warn', 'rejected', {reason: 'source_limit', src})
      raw.destroy()
      return
    }
    this.perSource.set(src, open + 1)
    this.metrics.connectionsOpen++
    raw.on('error', noop)
    const sock = this.ctx ? new tls.TLSSocket(raw, {isServer: true, secureContext: this.ctx}) : raw
    const conn: Conn = {sock, raw, src, state: 'hello', secured: !this.ctx, since: performance.now(), relayed: 0}
    this.conns.add(conn)
    conn.timer = setTimeout(() => this.reject(conn, Status.HELLO_TIMEOUT, 'hello_timeout'), this.limits.helloTimeoutMs)
    if (this.ctx) sock.once('secure', () => (conn.secured = true))
    sock.on('data', (chunk: Buffer) => this.onData(conn, chunk))
    sock.on('end', () => this.onEnd(conn))
    sock.on('error', (err: NodeJS.ErrnoException) => this.onError(conn, err))
    sock.on('close', () => this.onClose(conn))
  }

  private onData(conn: Conn, chunk: Buffer): void {
    switch (conn.state) {
      case 'paired': {
        const peer = conn.peer!
        conn.relayed += chunk.length
        if (conn.role === 'bridge') this.metrics.bytesBridgeToBroker += chunk.length
        else this.metrics.bytesBrokerToBridge += chunk.length
        this.opts.onRelayChunk?.(conn.role === 'bridge' ? 'bridge_to_broker' : 'broker_to_bridge', chunk)
        // TLS hands us one 16 KB record per 'data' event; corking until the end of this loop turn
        // lets a burst of records leave in one writev instead of one write per record. Plain TCP
        // reads arrive in 64 KB chunks already, so they are written straight through.
        if (this.ctx && !peer.corked) {
          peer.corked = true
          peer.sock.cork()
          setImmediate(uncork, peer)
        }
        if (!peer.sock.write(chunk)) conn.sock.pause()
        return
      }
      case 'hello': {
        const buf = conn.buf ? Buffer.concat([conn.buf, chunk]) : chunk
        const r = parseHello(buf, this.limits.maxHelloBytes)
        if (r.kind === 'more') {
          conn.buf = buf
        } else if (r.kind === 'error') {
          this.reject(conn, r.status, r.reason as RejectionReason)
        } else if (r.rest.length > 0) {
          this.reject(conn, Status.EARLY_DATA, 'early_data')
        } else {
          conn.buf = undefined
          this.onHello(conn, r.hello)
        }
        return
      }
      case 'waiting':
        // Clients must wait for PAIRED; bytes now would have nowhere to go but our memory.
        this.reject(conn, Status.EARLY_DATA, 'early_data')
        return
      default:
    }
  }

  private onHello(conn: Conn, hello: Hello): void {
    clearTimeout(conn.timer)
    if (this.state !== 'listening') {
      this.reject(conn, Status.SHUTTING_DOWN, 'shutting_down')
      return
    }
    const hashKey = hello.infoHash.toString('latin1')
    conn.role = hello.role
    conn.tag = hello.infoHash.subarray(0, 4).toString('hex')
    const waiting = this.queues.get(`${oppositeRole(hello.role)}|${hashKey}`)
    if (waiting && waiting.size > 0) {
      const peer = waiting.values().next().value as Conn
      this.unqueue(peer)
      this.pair(peer, conn)
      return
    }
    const key = `${hello.role}|${hashKey}`
    let q = this.queues.get(key)
    if (q && q.size >= this.limits.maxWaitingPerHash) {
      this.reject(conn, Status.HASH_FULL, 'hash_full')
      return
    }
    if (this.metrics.waiting >= this.limits.maxWaiting) {
      this.reject(conn, Status.BEACON_FULL, 'beacon_full')
      return
    }
    if (!q) this.queues.set(key, (q = new Set()))
    q.add(conn)
    conn.queueKey = key
    conn.state = 'waiting'
    conn.since = performance.now()
    this.metrics.waiting++
    conn.timer = setTimeout(() => this.reject(conn, Status.MATCH_TIMEOUT, 'match_timeout'), this.limits.matchTimeoutMs)
    conn.sock.write(encodeStatus(Status.WAITING))
    this.log('debug', 'waiting', {role: hello.role, hash: conn.tag, src: conn.src})
  }

  private pair(a: Conn, b: Conn): void {
    clearTimeout(a.timer)
    a.state = b.state = 'paired'
    a.peer = b
    b.peer = a
    this.metrics.pairsActive++
    this.metrics.pairsTotal++
    const paired = encodeStatus(Status.PAIRED)
    a.sock.write(paired)
    b.sock.write(paired)
    a.sock.on('drain', () => b.sock.resume())
    b.sock.on('drain', () => a.sock.resume())
    this.log('info', 'paired', {hash: a.tag, waited_ms: Math.round(performance.now() - a.since), src_a: a.src, src_b: b.src})
  }

  private unqueue(conn: Conn): void {
    if (conn.state !== 'waiting' || !conn.queueKey) return
    const q = this.queues.get(conn.queueKey)
    q?.delete(conn)
    if (q && q.size === 0) this.queues.delete(conn.queueKey)
    conn.queueKey = undefined
    this.metrics.waiting--
  }

  private reject(conn: Conn, status: number, reason: RejectionReason): void {
    if (conn.state === 'rejected' || conn.state === 'closed' || conn.state === 'paired') return
    this.unqueue(conn)
    clearTimeout(conn.timer)
    conn.state = 'rejected'
    conn.buf = undefined
    this.metrics.rejections[reason]++
    this.log(reason === 'match_timeout' || reason === 'shutting_down' ? 'debug' : 'info', 'rejected', {
      reason,
      src: conn.src,
      role: conn.role,
      hash: conn.tag,
    })
    const sock = conn.sock
    sock.pause()
    if (conn.secured && sock.writable) {
      sock.end(encodeStatus(status))
      // Give the status a moment to leave, without waiting on a peer that never sends FIN.
      conn.timer = setTimeout(() => sock.destroy(), 1_000)
      conn.timer.unref()
    } else {
      sock.destroy()
    }
  }

  private onEnd(conn: Conn): void {
    if (conn.state === 'paired') {
      // Half-close: the FIN travels on; the other direction keeps flowing.
      const peer = conn.peer!
      if (!peer.sock.destroyed) peer.sock.end()
    } else if (conn.state === 'hello' || conn.state === 'waiting') {
      // Gave up before pairing (or a probe): not an error, nothing to answer.
      this.unqueue(conn)
      clearTimeout(conn.timer)
      conn.state = 'closed'
      conn.sock.destroy()
    }
  }

  private onError(conn: Conn, err: NodeJS.ErrnoException): void {
    if (conn.state === 'hello' && !conn.secured) {
      this.metrics.rejections.tls_handshake++
      this.log('info', 'rejected', {reason: 'tls_handshake', src: conn.src, error: err.code ?? err.message})
      conn.state = 'rejected'
      clearTimeout(conn.timer)
    } else {
      this.log('debug', 'socket_error', {src: conn.src, state: conn.state, error: err.code ?? err.message})
    }
  }

  private onClose(conn: Conn): void {
    const was = conn.state
    this.unqueue(conn)
    clearTimeout(conn.timer)
    conn.state = 'closed'
    this.conns.delete(conn)
    this.metrics.connectionsOpen--
    const n = (this.perSource.get(conn.src) ?? 1) - 1
    if (n <= 0) this.perSource.delete(conn.src)
    else this.perSource.set(conn.src, n)
    if (was !== 'paired') return
    const peer = conn.peer!
    // A clean close means both directions finished, so the peer finishes on its own; anything
    // else (reset, keepalive timeout, drain deadline) must not leave the peer hanging.
    const clean = conn.sock.readableEnded && conn.sock.writableFinished
    if (peer.state === 'paired') {
      this.metrics.pairsActive--
      this.log('info', 'pair_closed', {hash: conn.tag, role: conn.role, sent: conn.relayed, received: peer.relayed, clean})
      // Pass an abort on as an abort (RST), so the peer cannot mistake it for a clean end of stream.
      if (!clean) abort(peer)
    }
  }
}

function noop(): void {}

function uncork(conn: Conn): void {
  conn.corked = false
  conn.sock.uncork()
}

function abort(conn: Conn): void {
  try {
    conn.raw.resetAndDestroy()
  } catch {
    // Not a TCP handle any more (already closed, or wrapped in a way that hides it).
  }
  conn.sock.destroy()
}
