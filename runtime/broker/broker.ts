// The broker: in the cluster, it bootstraps its identity through the init room, keeps one mTLS
// tunnel to the bridge through the beacon, and serves wrappers on an in-cluster HTTPS address,
// each wrapper request becoming one HTTP/2 stream on the tunnel. Its ops endpoint is Ready at
// once: beacon work runs in the background, and while the tunnel is down wrappers get a 503 that
// says so (they retry until their start deadline).
import {X509Certificate} from 'node:crypto'
import http from 'node:http'
import http2 from 'node:http2'
import https from 'node:https'
import type net from 'node:net'
import {initInfoHash} from '../../lib/infohash.js'
import type {KubeHttp} from '../../lib/kube/http.js'
import {runBeaconClient, type BeaconClient, type BeaconDialOptions} from '../beacon/client.js'
import type {Logger} from '../beacon/log.js'
import {brokerAudience, isLogin, jwtOf, JWKS_STALE_HEADER, LIMITS, readLine, TUNNEL_PATHS, type JwksPush, type SessionStatus} from '../tunnel/wire.js'
import {bootstrapBroker, type BrokerIdentity} from './bootstrap.js'
import {renderMetrics, startOpsServer} from '../ops/http.js'
import {publishCa} from './publish-ca.js'
import {keepRenewed} from './renew.js'
import {reviewToken, type Review} from './token-review.js'
import {listenReverse} from './reverse.js'

export interface BrokerOptions {
  fingerprint: string
  /** Beacon mode: where the broker dials to meet the bridge. */
  beacon?: Pick<BeaconDialOptions, 'address' | 'tls' | 'lookup' | 'dial'>
  /** Reverse-connect: the bridge dials this listener (the broker's external endpoint) instead; needs caPin. */
  reverse?: {host: string; port: number}
  kube: KubeHttp
  caPin?: string
  /** The broker's own ServiceAccount: with caPin, a restarted broker renews its certificate with a token of it. */
  serviceAccount?: {namespace: string; name: string}
  /** ConfigMap the cluster CA certificate is written to after bootstrap (the webhook gives it to wrappers). */
  publishCa?: {namespace: string; name: string}
  host: string
  port: number
  opsHost: string
  opsPort: number
  dnsNames: string[]
  ipAddresses: string[]
  logger: Logger
  backoff?: {baseMs?: number; maxMs?: number}
  /** Check each wrapper login with a TokenReview before it enters the tunnel (runtime/broker/token-review.ts). */
  reviewTokens?: boolean
  /** Tests: renew this long after each certificate instead of at two thirds of its life. */
  renewAfterMs?: number
  /** Pause after the bridge refused the tunnel (or a peer failed the pin), before dialling again. */
  refusedDelayMs?: number
}

export type TunnelState = 'bootstrapping' | 'connecting' | 'up' | 'refused'

export interface Broker {
  /** Where wrappers connect (https://host:port), once bootstrapped. */
  url(): string | undefined
  opsUrl: string
  /** Reverse-connect: the port the bridge dials. */
  reversePort?: number
  state(): {tunnel: TunnelState; lastError?: string; serial?: string}
  identity: Promise<BrokerIdentity>
  stats: {requests: number; unavailable: number; tunnels: number; refused: number}
  stop(): Promise<void>
}

export async function startBroker(o: BrokerOptions): Promise<Broker> {
  const log = o.logger
  if (!o.beacon === !o.reverse) throw new Error('the broker needs exactly one of a beacon address and a reverse-connect listener')
  if (o.reverse && !o.caPin) throw new Error('reverse-connect needs the CA pin: anyone can dial the endpoint, and only the pin tells the registered bridge from them')
  // Its two rooms: the init room by fingerprint and the operational room by the pinned CA hash.
  const reverse = o.reverse ? await listenReverse({...o.reverse, rooms: [initInfoHash(o.fingerprint), Buffer.from(o.caPin!, 'hex')], logger: log}) : undefined
  const link = reverse ? {address: `${o.reverse!.host}:${reverse.port}`, dial: reverse.accept} : o.beacon!

  const stats = {requests: 0, unavailable: 0, tunnels: 0, refused: 0}
  let tunnel: TunnelState = 'bootstrapping'
  let lastError: string | undefined
  let session: http2.ClientHttp2Session | undefined
  let server: https.Server | undefined
  let client: BeaconClient | undefined
  let url: string | undefined
  let current: BrokerIdentity | undefined
  /** While a renewal swaps tunnels: the old certificate's refusal is expected, not an error. */
  let replacing = false
  const ac = new AbortController()

  // Ready at once, whatever the tunnel does: wrappers get a 503 that says why while it is down.
  const ops = await startOpsServer(o.opsHost, o.opsPort, {
    ready: () => ({ok: true}),
    status: () => ({tunnel, lastError, serial: current?.serial, ...stats}),
    metrics: () =>
      renderMetrics([
        {name: 'cloudtaser_broker_tunnel_up', help: '1 while the tunnel to the bridge is up.', type: 'gauge', samples: [{value: tunnel === 'up' ? 1 : 0}]},
        {name: 'cloudtaser_broker_tunnels_total', help: 'Tunnels to the bridge since start.', type: 'counter', samples: [{value: stats.tunnels}]},
        {name: 'cloudtaser_broker_requests_total', help: 'Wrapper requests received.', type: 'counter', samples: [{value: stats.requests}]},
        {name: 'cloudtaser_broker_unavailable_total', help: 'Wrapper requests answered 503 because the tunnel was down.', type: 'counter', samples: [{value: stats.unavailable}]},
        {name: 'cloudtaser_broker_logins_refused_total', help: 'Wrapper logins the TokenReview refused.', type: 'counter', samples: [{value: stats.refused}]},
      ]),
  })
  const opsUrl = `http://${o.opsHost.includes(':') ? `[${o.opsHost}]` : o.opsHost}:${ops.port}`

  const sa = o.serviceAccount
  async function jwks(): Promise<Buffer> {
    const discovery = await o.kube.get<{issuer: string}>('/.well-known/openid-configuration')
    const set = await o.kube.get<{keys: JwksPush['keys']}>('/openid/v1/jwks', 'application/jwk-set+json')
    const push: JwksPush = {issuer: discovery.issuer, keys: set.keys, ...(sa ? {subject: `system:serviceaccount:${sa.namespace}:${sa.name}`} : {})}
    return Buffer.from(JSON.stringify(push))
  }

  /** TokenRequest for the broker's own ServiceAccount, bound to this cluster's bridge, 10 minutes. */
  async function proof(): Promise<string> {
    const body = Buffer.from(JSON.stringify({apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: {audiences: [brokerAudience(o.fingerprint)], expirationSeconds: 600}}))
    const r = await o.kube.send('POST', `/api/v1/namespaces/${encodeURIComponent(sa!.namespace)}/serviceaccounts/${encodeURIComponent(sa!.name)}/token`, {body, contentType: 'application/json'})
    try {
      if (r.status !== 201 && r.status !== 200) throw new Error(`TokenRequest for ${sa!.namespace}/${sa!.name}: HTTP ${r.status}: ${r.bytes.toString('utf8').slice(0, 300)}`)
      const token = (JSON.parse(r.bytes.toString('utf8')) as {status?: {token?: string}}).status?.token
      if (!token) throw new Error('TokenRequest returned no token')
      return token
    } finally {
      r.bytes.fill(0)
    }
  }

  function exchange(s: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer): Promise<{status: number; headers: http2.IncomingHttpHeaders; body: Buffer}> {
    return new Promise((resolve, reject) => {
      const stream = s.request(headers, {endStream: !body})
      stream.setTimeout(LIMITS.requestTimeoutMs, () => stream.close(http2.constants.NGHTTP2_CANCEL))
      let resHeaders: http2.IncomingHttpHeaders = {}
      const chunks: Buffer[] = []
      stream.on('response', (h) => (resHeaders = h))
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => resolve({status: Number(resHeaders[':status'] ?? 502), headers: resHeaders, body: Buffer.concat(chunks)}))
      stream.on('error', reject)
      stream.on('close', () => {
        if (stream.rstCode && stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR) reject(new Error(`tunnel stream reset (${stream.rstCode})`))
      })
      if (body) stream.end(body)
    })
  }

  const pushJwks = async (s: http2.ClientHttp2Session) => {
    const r = await exchange(s, {':method': 'PUT', ':path': TUNNEL_PATHS.jwks, 'content-type': 'application/json'}, await jwks())
    if (r.status !== 204) throw new Error(`bridge refused the JWKS: HTTP ${r.status}`)
  }

  async function onSession(s: net.Socket): Promise<void> {
    const status = await readLine<SessionStatus>(s)
    if (!status.ok && replacing && status.code === 'BRIDGE_REVOKED') {
      s.destroy()
      return
    }
    if (!status.ok) {
      tunnel = 'refused'
      lastError = `${status.code}: ${status.message}`
      log('error', 'tunnel_refused', {code: status.code, reason: status.message})
      s.destroy()
      await new Promise((r) => setTimeout(r, o.refusedDelayMs ?? 5_000))
      return
    }
    const h2 = http2.connect('http://bridge.tunnel', {createConnection: () => s, settings: {maxConcurrentStreams: LIMITS.maxConcurrentStreams}})
    h2.on('error', (err) => log('warn', 'tunnel_error', {error: err.message}))
    h2.on('goaway', (code, _last, data) => {
      const why = data?.length ? data.toString('utf8') : `code ${code}`
      lastError = `bridge closed the tunnel: ${why}`
      log(data?.length && !replacing ? 'error' : 'info', 'tunnel_goaway', {reason: why})
    })
    await pushJwks(h2)
    session = h2
    tunnel = 'up'
    lastError = undefined
    stats.tunnels++
    log('info', 'tunnel_up', {})
    // The relay half-closes when the beacon goes away, and an HTTP/2 ping has no timeout of its own:
    // without these two a dead tunnel stayed "up" and wrapper requests waited on it.
    s.once('end', () =>
      // After the frames that arrived with the FIN (a GOAWAY says why the bridge closed).
      setImmediate(() => {
        if (h2.destroyed) return
        lastError ??= 'the beacon closed the connection'
        h2.destroy()
      }),
    )
    const beat = setInterval(() => {
      const missed = setTimeout(() => {
        log('warn', 'heartbeat_failed', {error: `no answer to a ping within ${2 * LIMITS.heartbeatMs} ms`})
        h2.destroy()
      }, 2 * LIMITS.heartbeatMs)
      h2.ping((err) => {
        clearTimeout(missed)
        if (err) {
          log('warn', 'heartbeat_failed', {error: err.message})
          h2.destroy()
        }
      })
    }, LIMITS.heartbeatMs)
    await new Promise<void>((r) => h2.once('close', r))
    // The session may close with its socket still open (half-closed): the beacon client redials only once it is gone.
    s.destroy()
    clearInterval(beat)
    if (session === h2) session = undefined
    if (tunnel === 'up') tunnel = 'connecting'
    log('warn', 'tunnel_down', {reason: lastError})
  }

  async function relay(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    stats.requests++
    const chunks: Buffer[] = []
    let n = 0
    for await (const c of req as AsyncIterable<Buffer>) {
      n += c.length
      if (n > LIMITS.maxBodyBytes) {
        res.writeHead(413, {'content-type': 'application/json'}).end(JSON.stringify({errors: [`cloudtaser broker: request body over ${LIMITS.maxBodyBytes} bytes`]}))
        return
      }
      chunks.push(c)
    }
    const body = n ? Buffer.concat(chunks, n) : undefined
    chunks.forEach((c) => c.fill(0))
    try {
      if (o.reviewTokens && isLogin(req.method ?? 'GET', new URL(req.url ?? '/', 'https://broker').pathname)) {
        const jwt = jwtOf(body)
        const review: Review = jwt ? await reviewToken(o.kube, jwt) : {ok: false, reason: 'a login must carry a ServiceAccount token (jwt)'}
        if (!review.ok) {
          stats.refused++
          log('warn', 'login_refused', {path: req.url, reason: review.reason})
          res.writeHead(403, {'content-type': 'application/json'}).end(JSON.stringify({errors: [`cloudtaser broker: ${review.reason}`]}))
          return
        }
      }
      const headers: http2.OutgoingHttpHeaders = {':method': req.method ?? 'GET', ':path': req.url ?? '/'}
      for (const h of ['x-vault-token', 'x-vault-namespace', 'x-vault-request', 'content-type', 'x-vault-wrap-ttl']) if (req.headers[h]) headers[h] = req.headers[h]
      for (let attempt = 0; ; attempt++) {
        const s = session
        if (!s || s.destroyed) {
          stats.unavailable++
          res.writeHead(503, {'content-type': 'application/json'}).end(JSON.stringify({errors: [`cloudtaser broker: BROKER_TUNNEL_DOWN: no tunnel to OpenBao (${tunnel}${lastError ? `; ${lastError}` : ''})`]}))
          return
        }
        const r = await exchange(s, headers, body)
        if (r.headers[JWKS_STALE_HEADER] === 'stale' && attempt === 0) {
          await pushJwks(s)
          r.body.fill(0)
          continue
        }
        res.writeHead(r.status, {'content-type': String(r.headers['content-type'] ?? 'application/json')})
        res.end(r.body, () => r.body.fill(0))
        return
      }
    } finally {
      body?.fill(0)
    }
  }

  const identity = (async (): Promise<BrokerIdentity> => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await bootstrapBroker({beacon: link, fingerprint: o.fingerprint, caPin: o.caPin, dnsNames: o.dnsNames, ipAddresses: o.ipAddresses, logger: log, signal: ac.signal, ...(sa && o.caPin ? {proof} : {})})
      } catch (err) {
        lastError = (err as Error).message
        const code = (err as {code?: string}).code
        const nothingSent = Boolean((err as {details?: {nothingSent?: boolean}}).details?.nothingSent)
        if (code === 'BROKER_CA_PIN_MISMATCH' && nothingSent && !ac.signal.aborted) {
          // Not the registered bridge (a stranger at a reverse-connect endpoint, or a wrong pin): loud, and wait for the right one.
          log('error', 'bootstrap_peer_not_pinned', {reason: lastError})
          await new Promise((r) => setTimeout(r, (o.refusedDelayMs ?? 5_000) * (1 + 2 * Math.random())))
          continue
        }
        if (code === 'BROKER_BOOTSTRAP_REFUSED' || code === 'BROKER_CA_PIN_MISMATCH' || ac.signal.aborted) {
          tunnel = 'refused'
          log('error', 'bootstrap_refused', {code, reason: lastError})
          throw err
        }
        if ((err as {status?: number}).status !== 0x20) log('warn', 'bootstrap_retry', {error: lastError})
        await new Promise((r) => setTimeout(r, Math.min(30_000, 250 * 2 ** Math.min(attempt, 7)) * Math.random()))
      }
    }
  })()
  identity.catch(() => {})

  const dialTunnel = (id: BrokerIdentity) =>
    runBeaconClient({
      ...link,
      role: 'broker',
      infoHash: Buffer.from(id.caSha256, 'hex'),
      inner: {key: id.key, cert: id.cert, ca: id.ca},
      mode: 'serial',
      backoff: o.backoff,
      onSession,
      onError: (err, delay) => {
        if ((err as {status?: number}).status === 0x20) return
        lastError = err.message
        log('warn', 'beacon_error', {error: err.message, retryMs: delay})
      },
    })

  /** Renewal with the tunnel up: the new certificate serves the next tunnel and every new wrapper connection. */
  async function renew(): Promise<string> {
    const next = await bootstrapBroker({beacon: link, fingerprint: o.fingerprint, caPin: o.caPin, dnsNames: o.dnsNames, ipAddresses: o.ipAddresses, logger: log, signal: ac.signal, proof})
    current = next
    server!.setSecureContext({key: next.key, cert: next.cert, minVersion: 'TLSv1.2'})
    // The bridge revoked the old certificate with this answer and closes its tunnel: dial again with
    // the new one (wrappers asking meanwhile get a 503 and retry).
    replacing = true
    const old = client
    session?.close()
    await old?.stop()
    replacing = false
    client = dialTunnel(next)
    log('info', 'renewed', {serial: next.serial, notAfter: new Date(new X509Certificate(next.cert).validTo).toISOString()})
    return next.cert
  }

  const started = identity.then(async (id) => {
    current = id
    tunnel = 'connecting'
    if (o.publishCa) {
      const where = o.publishCa
      // Retried in the background: wrappers can use the tunnel before the ConfigMap exists only if they carry the CA themselves.
      void (async () => {
        for (let attempt = 0; !ac.signal.aborted; attempt++) {
          try {
            await publishCa(o.kube, where, {pem: id.ca, sha256: id.caSha256})
            log('info', 'ca_published', {configMap: `${where.namespace}/${where.name}`, caSha256: id.caSha256})
            return
          } catch (err) {
            log('warn', 'ca_publish_failed', {configMap: `${where.namespace}/${where.name}`, error: (err as Error).message})
            await new Promise((r) => setTimeout(r, Math.min(30_000, 500 * 2 ** Math.min(attempt, 6))))
          }
        }
      })()
    }
    server = https.createServer({key: id.key, cert: id.cert, minVersion: 'TLSv1.2'}, (req, res) => {
      relay(req, res).catch((err: Error) => {
        log('warn', 'relay_failed', {error: err.message})
        if (!res.headersSent) res.writeHead(502, {'content-type': 'application/json'}).end(JSON.stringify({errors: [`cloudtaser broker: ${err.message}`]}))
      })
    })
    await new Promise<void>((r) => server!.listen(o.port, o.host, r))
    const port = (server.address() as net.AddressInfo).port
    url = `https://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`
    log('info', 'listening', {url})
    client = dialTunnel(id)
    if (sa && o.caPin) keepRenewed({cert: id.cert, renew, signal: ac.signal, logger: log, afterMs: o.renewAfterMs})
    else log('warn', 'renewal_unavailable', {notAfter: new Date(new X509Certificate(id.cert).validTo).toISOString(), hint: 'without --service-account and --ca-sha256 the broker cannot renew; restart it after `source register --rotate-ca` before then'})
  })
  started.catch(() => {})

  return {
    url: () => url,
    opsUrl,
    reversePort: reverse?.port,
    state: () => ({tunnel, lastError, serial: current?.serial}),
    identity,
    stats,
    async stop() {
      ac.abort()
      await started.catch(() => {})
      session?.destroy()
      await client?.stop()
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()))
      server?.closeAllConnections()
      await new Promise<void>((r) => ops.server.close(() => r()))
      await reverse?.close()
    },
  }
}
