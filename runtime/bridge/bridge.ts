// The bridge: runs beside OpenBao, dials the beacon outbound for every registered cluster (or, for
// a cluster registered with a reverse-connect endpoint, that broker's endpoint), and never accepts
// a connection. Per cluster it keeps one connection waiting in the init room
// (bootstrap, or a clear refusal once initialized) and, once initialized, one in the operational
// room (mTLS, then the HTTP/2 tunnel of proxy.ts). A refresh loop follows OpenBao: new
// registrations get rooms, deregistered clusters lose them and their live tunnels.
import {generateKeyPairSync, X509Certificate} from 'node:crypto'
import type http2 from 'node:http2'
import type net from 'node:net'
import tls from 'node:tls'
import {initInfoHash} from '../../lib/infohash.js'
import type {BaoClient} from '../../lib/openbao/client.js'
import type {Transport} from '../../lib/openbao/transport.js'
import {issueLeaf} from '../../lib/x509/issue.js'
import {runBeaconClient, type BeaconClient, type BeaconDialOptions} from '../beacon/client.js'
import type {Logger} from '../beacon/log.js'
import {writeLine, type JwksPush, type RefusalCode, type SessionStatus} from '../tunnel/wire.js'
import {serveBootstrap} from './issuer.js'
import {JwksCache} from './jwt.js'
import {serveTunnel, type TunnelContext} from './proxy.js'
import {listClusters, readCaKey, readCluster, writeInitialized, type ClusterState} from './registrations.js'

export interface BridgeOptions {
  client: BaoClient
  /** Where relayed wrapper requests go (the bridge's own client never carries them). */
  baoAddr: string
  transport: Transport
  /** Where it meets brokers; a cluster registered with a reverse-connect endpoint is dialled there instead. */
  beacon?: Pick<BeaconDialOptions, 'address' | 'tls' | 'lookup'>
  logger: Logger
  refreshMs?: number
  backoff?: {baseMs?: number; maxMs?: number}
}

interface Worker {
  key: string
  fingerprint: string
  init: BeaconClient
  op?: BeaconClient
  sessions: Set<http2.ServerHttp2Session>
  jwks: JwksCache
}

export interface Bridge {
  /** Clusters with rooms, by fingerprint: 'init' (waiting for the bootstrap) or 'operational'. */
  clusters(): Record<string, 'init' | 'operational'>
  stats: TunnelContext['stats'] & {bootstraps: number; refusals: Partial<Record<RefusalCode, number>>; tunnels: number}
  refresh(): Promise<void>
  stop(): Promise<void>
}

const SERVING_DAYS = 30

export async function startBridge(o: BridgeOptions): Promise<Bridge> {
  const workers = new Map<string, Worker>()
  const stats: Bridge['stats'] = {requests: 0, refused: 0, logins: 0, bootstraps: 0, refusals: {}, tunnels: 0}
  const log = o.logger
  let stopped = false
  let refreshing: Promise<void> | undefined

  const unrouted = new Set<string>()
  // Reverse-connect: the broker's endpoint plays the beacon's part (same hello, same rooms). Plain
  // TCP outside: the mTLS inside, pinned to the cluster CA on both sides, is what protects it.
  const linkFor = (c: ClusterState): BridgeOptions['beacon'] => (c.record.reverseEndpoint ? {address: c.record.reverseEndpoint, tls: false} : o.beacon)
  const count = (code: RefusalCode) => (stats.refusals[code] = (stats.refusals[code] ?? 0) + 1)

  /** A serving certificate for this cluster's rooms, signed by its CA; the CA key is dropped after. */
  async function servingIdentity(state: ClusterState): Promise<{key: Buffer; cert: string; ca: string}> {
    const caKey = await readCaKey(o.client, state.layout, state.record.caCertSha256)
    const {publicKey, privateKey} = generateKeyPairSync('ec', {namedCurve: 'P-256'})
    const leaf = issueLeaf({ca: {certPem: state.record.caCertificate, key: caKey}, spki: publicKey.export({type: 'spki', format: 'der'}), commonName: `cloudtaser-bridge-${state.layout.id}`, usage: ['serverAuth'], days: SERVING_DAYS})
    return {key: privateKey.export({type: 'pkcs8', format: 'pem'}) as Buffer, cert: leaf.certPem, ca: state.record.caCertificate}
  }

  async function startWorker(state: ClusterState, link: NonNullable<BridgeOptions['beacon']>): Promise<Worker> {
    const fp = state.record.fingerprint
    const id = await servingIdentity(state)
    const jwks = new JwksCache()
    const w: Worker = {key: workerKey(state), fingerprint: fp, sessions: new Set(), jwks, init: undefined as unknown as BeaconClient}
    const onError = (room: string) => (err: Error, delay: number) => {
      if ((err as {status?: number}).status === 0x20) return // MATCH_TIMEOUT: nobody came, redial
      log('warn', 'beacon_error', {cluster: fp, room, error: err.message, retryMs: delay})
    }
    w.init = runBeaconClient({
      ...link,
      role: 'bridge',
      infoHash: initInfoHash(fp),
      mode: 'parallel',
      // Several beacon replicas behind one name: the broker reaches any one of them.
      everyAddress: true,
      backoff: o.backoff,
      onError: onError('init'),
      onSession: (raw: net.Socket) =>
        new Promise<void>((resolve) => {
          // Init room: TLS with the CA-signed serving certificate and its CA (the broker checks its pin
          // before sending a renewal proof), no client certificate yet. One server per session: a shared
          // one's 'secureConnection' handlers outlived sessions that died in the handshake and then
          // served the next session twice.
          const initServer = tls.createServer({key: id.key, cert: id.cert + id.ca, minVersion: 'TLSv1.3'})
          initServer.on('tlsClientError', (err) => log('warn', 'bootstrap_tls_failed', {cluster: fp, error: err.message}))
          initServer.once('secureConnection', (s: tls.TLSSocket) => {
            void serveBootstrap(s, {fingerprint: fp, client: o.client, logger: log}).then((r) => {
              if (r === 'issued') {
                stats.bootstraps++
                void bridge.refresh()
              } else count(r)
              resolve()
            })
          })
          raw.once('close', () => resolve())
          initServer.emit('connection', raw)
        }),
    })
    if (state.initialized) {
      w.op = runBeaconClient({
        ...link,
        role: 'bridge',
        infoHash: Buffer.from(state.record.operationalInfoHash, 'hex'),
        mode: 'parallel',
        everyAddress: true,
        backoff: o.backoff,
        inner: {key: id.key, cert: id.cert, ca: id.ca},
        onError: onError('operational'),
        onSession: (s: net.Socket) => admit(s as tls.TLSSocket, w),
      })
    }
    log('info', 'cluster_rooms', {cluster: fp, rooms: state.initialized ? 'init,operational' : 'init', via: state.record.reverseEndpoint ? `reverse-connect ${link.address}` : `beacon ${link.address}`})
    return w
  }

  /** Checks a broker that passed mTLS against OpenBao's current word, then serves the tunnel. */
  async function admit(s: tls.TLSSocket, w: Worker): Promise<void> {
    const fp = w.fingerprint
    const state = await readCluster(o.client, fp)
    const serial = new X509Certificate(s.getPeerCertificate(true).raw).serialNumber
    let status: SessionStatus = {ok: true, v: 1}
    if (!state) status = {ok: false, code: 'BRIDGE_NOT_REGISTERED', message: `cluster ${fp} is no longer registered with this OpenBao`}
    else if (!state.initialized || state.initialized.serial !== serial)
      status = {ok: false, code: 'BRIDGE_REVOKED', message: `broker certificate ${serial} is not the one issued at bootstrap (${state.initialized?.serial ?? 'none'}); the cluster was re-registered or rotated`}
    if (!status.ok) {
      count(status.code)
      log('warn', 'tunnel_refused', {cluster: fp, code: status.code, reason: status.message})
      await writeLine(s, status)
      s.end()
      if (!state) void bridge.refresh()
      return
    }
    await writeLine(s, status)
    stats.tunnels++
    log('info', 'tunnel_up', {cluster: fp, serial})
    const session = serveTunnel(s, {cluster: fp, baoAddr: o.baoAddr, transport: o.transport, jwks: w.jwks, onJwks: (push) => recordJwks(fp, serial, push), logger: log, stats})
    w.sessions.add(session)
    await new Promise<void>((resolve) => session.once('close', resolve))
    w.sessions.delete(session)
    log('info', 'tunnel_down', {cluster: fp})
  }

  /** Keeps the keys and the broker's subject beside the serial, for the broker's renewal after a restart. */
  async function recordJwks(fp: string, serial: string, push: JwksPush): Promise<void> {
    const state = await readCluster(o.client, fp)
    const init = state?.initialized
    if (!state || !init || init.serial !== serial) return
    const jwks = {issuer: push.issuer, keys: push.keys}
    const subject = push.subject ?? init.brokerSubject
    if (JSON.stringify(init.jwks) === JSON.stringify(jwks) && init.brokerSubject === subject) return
    if (await writeInitialized(o.client, state.layout, {...init, jwks, brokerSubject: subject}, state.initializedVersion)) log('info', 'jwks_recorded', {cluster: fp, brokerSubject: subject})
  }

  async function stopWorker(w: Worker, refusal?: SessionStatus): Promise<void> {
    for (const s of w.sessions) {
      // GOAWAY's debug data carries the reason to the broker, which logs it.
      if (refusal) s.goaway(0, 0, Buffer.from(JSON.stringify(refusal)))
      s.close()
    }
    await Promise.all([w.init.stop(), w.op?.stop()])
  }

  const bridge: Bridge = {
    clusters: () => Object.fromEntries([...workers.values()].map((w) => [w.fingerprint, w.op ? 'operational' : 'init'])),
    stats,
    refresh() {
      refreshing ??= (async () => {
        try {
          const found = await listClusters(o.client)
          const want = new Map(found.map((c) => [c.record.fingerprint, c]))
          for (const [fp, w] of workers) {
            const c = want.get(fp)
            if (c && workerKey(c) === w.key) continue
            workers.delete(fp)
            if (!c) {
              count('BRIDGE_NOT_REGISTERED')
              log('warn', 'cluster_deregistered', {cluster: fp, action: 'closing its rooms and tunnels'})
            }
            await stopWorker(w, c ? undefined : {ok: false, code: 'BRIDGE_NOT_REGISTERED', message: `cluster ${fp} was deregistered from OpenBao`})
          }
          for (const [fp, c] of want) {
            if (workers.has(fp) || stopped) continue
            const link = linkFor(c)
            if (!link) {
              if (!unrouted.has(fp)) log('warn', 'cluster_unreachable', {cluster: fp, reason: 'registered without a reverse-connect endpoint, and this bridge has no --beacon'})
              unrouted.add(fp)
              continue
            }
            unrouted.delete(fp)
            workers.set(fp, await startWorker(c, link))
          }
        } catch (err) {
          log('error', 'refresh_failed', {error: (err as Error).message})
        } finally {
          refreshing = undefined
        }
      })()
      return refreshing
    },
    async stop() {
      stopped = true
      clearInterval(timer)
      await refreshing
      await Promise.all([...workers.values()].map((w) => stopWorker(w)))
      workers.clear()
    },
  }
  await bridge.refresh()
  const timer = setInterval(() => void bridge.refresh(), o.refreshMs ?? 15_000)
  return bridge
}

/** A worker is for one registration state: a new CA or the first initialization starts a new one. */
const workerKey = (c: ClusterState) => `${c.record.caCertSha256}:${c.initialized?.serial ?? '-'}:${c.record.reverseEndpoint ?? 'beacon'}`
