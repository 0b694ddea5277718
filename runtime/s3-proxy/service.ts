// `cloudtaser s3-proxy run`: the proxy, its ops port (/healthz, /readyz, /metrics) and its
// OpenBao session (a token for tests, kubernetes auth in Pods, as the wrapper logs in).
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import {CloudtaserError, ExitCode} from '../../lib/errors.js'
import {resolveConnection} from '../../lib/openbao/config.js'
import {baoSession, SA_TOKEN_FILE, type BaoAuth, type BaoSession, type SessionSettings} from '../../lib/openbao/session.js'
import {KeyService} from './keys.js'
import {ProxyMetrics} from './metrics.js'
import {startS3Proxy, type ProxyServer} from './server.js'
import type {Credentials} from './sigv4.js'
import type {S3ProxyFlags} from './options.js'
import {closeUpstream, type UpstreamConfig} from './upstream.js'

export {SA_TOKEN_FILE}

export interface S3ProxyConfig {
  host: string
  port: number
  opsHost: string
  opsPort: number
  client: Credentials
  upstream: UpstreamConfig
  bao: SessionSettings
  auth: BaoAuth
  transit: {mount: string; key: string}
  pad: boolean
  requireEncrypted: boolean
  log?: (event: Record<string, unknown>) => void
}

export interface RunningS3Proxy {
  proxy: ProxyServer
  opsUrl: string
  metrics: ProxyMetrics
  stop(): Promise<void>
}

const configError = (message: string, hint?: string) => new CloudtaserError('S3_PROXY_CONFIG', message, {exitCode: ExitCode.CONFIG, hint})

/** Credentials from the environment (never argv, which any process on the node can read). */
export function credentialsFromEnv(env: NodeJS.ProcessEnv, prefix: string): Credentials {
  const accessKeyId = env[`${prefix}_ACCESS_KEY_ID`]
  const secretAccessKey = env[`${prefix}_SECRET_ACCESS_KEY`]
  if (!accessKeyId || !secretAccessKey) throw configError(`${prefix}_ACCESS_KEY_ID and ${prefix}_SECRET_ACCESS_KEY must be set`)
  return {accessKeyId, secretAccessKey}
}

/** The OpenBao session (lib/openbao/session.ts): a kubernetes login is renewed at half its lease. */
export const s3BaoSession = (c: S3ProxyConfig): BaoSession => baoSession(c.bao, c.auth)

export async function startS3ProxyService(c: S3ProxyConfig): Promise<RunningS3Proxy> {
  const metrics = new ProxyMetrics()
  const session = s3BaoSession(c)
  const keys = new KeyService(session.client, c.transit, metrics)
  const proxy = await startS3Proxy({host: c.host, port: c.port, client: c.client, upstream: c.upstream, keys, metrics, pad: c.pad, requireEncrypted: c.requireEncrypted, log: c.log})
  const ops = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (path === '/healthz' || path === '/readyz') res.writeHead(200, {'content-type': 'text/plain'}).end('ok\n')
    else if (path === '/metrics') res.writeHead(200, {'content-type': 'text/plain; version=0.0.4'}).end(metrics.render())
    else res.writeHead(404).end()
  })
  await new Promise<void>((resolve, reject) => {
    ops.once('error', reject)
    ops.listen(c.opsPort, c.opsHost, () => resolve())
  })
  const a = ops.address() as AddressInfo
  return {
    proxy,
    opsUrl: `http://${a.address}:${a.port}`,
    metrics,
    stop: async () => {
      await proxy.close()
      await new Promise<void>((r) => {
        ops.close(() => r())
        ops.closeAllConnections()
      })
      keys.clear()
      closeUpstream(c.upstream)
      await session.close()
    },
  }
}

/**
 * `cloudtaser s3-proxy run` from its parsed flags: the one way the proxy starts, whether bin/run.js
 * took the oclif-free path (runtime/s3-proxy/main.ts) or oclif ran the command. Serves until
 * SIGTERM or SIGINT, then stops cleanly.
 */
export async function runS3Proxy(f: S3ProxyFlags, env: NodeJS.ProcessEnv): Promise<{url: string; ops: string}> {
  const kubernetes = f['bao-auth'] === 'kubernetes'
  if (kubernetes && !f['bao-role']) throw new CloudtaserError('USAGE', '--bao-role is required with --bao-auth kubernetes', {exitCode: ExitCode.USAGE})
  // A kubernetes login needs no token up front: resolve the rest of the connection without one.
  const conn = resolveConnection({}, kubernetes ? {...env, BAO_TOKEN: 'login'} : env)
  const endpoint = new URL(f.upstream)
  const payload = f['upstream-payload'] === 'auto' ? (endpoint.protocol === 'https:' ? 'unsigned' : 'mirror') : (f['upstream-payload'] as 'streaming' | 'unsigned')
  const running = await startS3ProxyService({
    host: f.host,
    port: f.port,
    opsHost: f['ops-host'],
    opsPort: f['ops-port'],
    client: credentialsFromEnv(env, 'CLOUDTASER_S3'),
    upstream: {endpoint, region: f.region, credentials: credentialsFromEnv(env, 'CLOUDTASER_S3_UPSTREAM'), payload},
    bao: {...conn, token: kubernetes ? undefined : conn.token},
    auth: kubernetes ? {method: 'kubernetes', mount: f['bao-auth-mount'], role: f['bao-role']!, jwtFile: f['sa-token-file']} : {method: 'token'},
    transit: {mount: f['transit-mount'], key: f['transit-key']},
    pad: !f['no-pad'],
    requireEncrypted: f['require-encrypted'],
    log: (e) => process.stderr.write(`${JSON.stringify({time: new Date().toISOString(), ...e})}\n`),
  })
  process.stderr.write(`${JSON.stringify({level: 'info', msg: 'listening', url: running.proxy.url, ops: running.opsUrl, upstreamPayload: payload})}\n`)
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve)
    process.once('SIGINT', resolve)
  })
  await running.stop()
  return {url: running.proxy.url, ops: running.opsUrl}
}
