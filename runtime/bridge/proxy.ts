// The operational tunnel, bridge side: an HTTP/2 server session on the mTLS socket. Each stream
// is one wrapper request. Logins must carry a ServiceAccount token the cluster's keys signed;
// every other request must carry an OpenBao token (the wrapper's own, from such a login). The
// bridge adds no credential of its own: OpenBao's policies apply per Pod.
import http2 from 'node:http2'
import type tls from 'node:tls'
import type {Transport} from '../../lib/openbao/transport.js'
import type {Logger} from '../beacon/log.js'
import {isLogin, jwtOf, JWKS_STALE_HEADER, LIMITS, TUNNEL_PATHS, type JwksPush} from '../tunnel/wire.js'
import type {JwksCache} from './jwt.js'

export interface TunnelContext {
  cluster: string
  baoAddr: string
  transport: Transport
  jwks: JwksCache
  /** Records what a renewal is later checked against (the bridge writes it to OpenBao). */
  onJwks: (push: JwksPush) => Promise<void>
  logger: Logger
  stats: {requests: number; refused: number; logins: number}
}

const FORWARDED = ['x-vault-token', 'x-vault-namespace', 'x-vault-request', 'content-type', 'x-vault-wrap-ttl']

export function serveTunnel(sock: tls.TLSSocket, ctx: TunnelContext): http2.ServerHttp2Session {
  const session = http2.performServerHandshake(sock, {settings: {maxConcurrentStreams: LIMITS.maxConcurrentStreams}})
  session.setTimeout(LIMITS.idleTimeoutMs, () => {
    ctx.logger('warn', 'tunnel_idle', {cluster: ctx.cluster})
    session.destroy()
  })
  // The beacon half-closes when it goes away: the tunnel has no use for half a connection.
  sock.once('end', () => {
    ctx.logger('warn', 'tunnel_ended', {cluster: ctx.cluster})
    session.destroy()
    sock.destroy()
  })
  session.on('error', (err) => ctx.logger('warn', 'tunnel_error', {cluster: ctx.cluster, error: err.message}))
  session.on('stream', (stream, headers) => {
    stream.on('error', () => {})
    void handle(stream, headers, ctx).catch((err: Error) => {
      ctx.logger('error', 'relay_failed', {cluster: ctx.cluster, error: err.message})
      if (!stream.headersSent) respond(stream, 502, {errors: [`cloudtaser bridge: OpenBao request failed: ${err.message}`]})
    })
  })
  return session
}

function respond(stream: http2.ServerHttp2Stream, status: number, body: unknown, extra: Record<string, string> = {}): void {
  if (stream.destroyed) return
  stream.respond({':status': status, 'content-type': 'application/json', ...extra})
  stream.end(JSON.stringify(body))
}

function readBody(stream: http2.ServerHttp2Stream): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let n = 0
    stream.on('data', (c: Buffer) => {
      n += c.length
      if (n > LIMITS.maxBodyBytes) {
        chunks.forEach((b) => b.fill(0))
        stream.close(http2.constants.NGHTTP2_REFUSED_STREAM)
        reject(new Error(`request body over ${LIMITS.maxBodyBytes} bytes`))
      } else chunks.push(c)
    })
    stream.once('end', () => resolve(n ? Buffer.concat(chunks, n) : undefined))
    stream.once('error', reject)
  })
}

async function handle(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, ctx: TunnelContext): Promise<void> {
  const method = String(headers[':method'])
  const path = String(headers[':path'])
  const body = await readBody(stream)
  try {
    if (path === TUNNEL_PATHS.jwks && method === 'PUT') {
      const push = JSON.parse(body?.toString('utf8') ?? '{}') as JwksPush
      ctx.jwks.set({issuer: push.issuer, keys: push.keys})
      ctx.logger('info', 'jwks_updated', {cluster: ctx.cluster, brokerSubject: push.subject})
      await ctx.onJwks(push).catch((err: Error) => ctx.logger('warn', 'jwks_record_failed', {cluster: ctx.cluster, error: err.message, effect: 'a restarted broker cannot renew until this is recorded'}))
      return respond(stream, 204, {})
    }
    const url = new URL(path, ctx.baoAddr)
    if (!url.pathname.startsWith('/v1/') || url.pathname.includes('/../')) return refuse(stream, ctx, 400, path, 'not an OpenBao API path')
    const fwd: Record<string, string> = {}
    for (const h of FORWARDED) if (typeof headers[h] === 'string') fwd[h] = headers[h]
    if (isLogin(method, url.pathname)) {
      const jwt = jwtOf(body)
      if (jwt === undefined) return refuse(stream, ctx, 403, url.pathname, 'a login through the bridge must carry a ServiceAccount token (jwt)')
      const v = ctx.jwks.verify(jwt)
      if (!v.ok) return refuse(stream, ctx, 403, url.pathname, `ServiceAccount token refused: ${v.reason}`, v.staleKeys ? {[JWKS_STALE_HEADER]: 'stale'} : {})
      ctx.stats.logins++
      ctx.logger('info', 'login_forwarded', {cluster: ctx.cluster, path: url.pathname, namespace: v.namespace, serviceAccount: v.serviceAccount})
    } else if (!fwd['x-vault-token']) return refuse(stream, ctx, 403, url.pathname, 'unauthenticated request: no OpenBao token')
    ctx.stats.requests++
    const res = await ctx.transport.request({method, url: new URL(`${url.pathname}${url.search}`, ctx.baoAddr), headers: fwd, body, timeoutMs: LIMITS.requestTimeoutMs, wipe: true})
    if (stream.destroyed) {
      res.body.fill(0)
      return
    }
    stream.respond({':status': res.status, 'content-type': 'application/json'})
    stream.end(res.body, () => res.body.fill(0))
  } finally {
    body?.fill(0)
  }
}

function refuse(stream: http2.ServerHttp2Stream, ctx: TunnelContext, status: number, path: string, why: string, extra: Record<string, string> = {}): void {
  ctx.stats.refused++
  ctx.logger('warn', 'request_refused', {cluster: ctx.cluster, path, reason: why})
  respond(stream, status, {errors: [`cloudtaser bridge: ${why}`]}, extra)
}
