// One real stack per test file: OpenBao (dev) with a Transit key, versitygw on loopback, and the
// proxy in-process with token auth. Every server is stopped and every directory removed.
import {randomBytes} from 'node:crypto'
import {readdirSync, readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'
import {S3Client} from '@aws-sdk/client-s3'
import {startLab, startOpenBao, startS3Server, type OpenBao, type S3Server} from '../../../lib/lab/index.js'
import {OpenBaoClient} from '../../../lib/openbao/client.js'
import {resolveConnection} from '../../../lib/openbao/config.js'
import {startS3ProxyService, type RunningS3Proxy, type S3ProxyConfig} from '../../../runtime/s3-proxy/service.js'
import {bao, kubernetesAuth} from '../../lib/lab/helpers.js'

export interface Stack {
  bao: OpenBao
  root: OpenBaoClient
  s3: S3Server
  proxy: RunningS3Proxy
  client: {accessKeyId: string; secretAccessKey: string}
  /** An SDK client pointed at the proxy. */
  sdk: S3Client
  /** An SDK client pointed at the S3 server directly (what the provider sees). */
  direct: S3Client
  config: S3ProxyConfig
  restartProxy(overrides?: Partial<S3ProxyConfig>): Promise<void>
  stop(): Promise<void>
}

export const TRANSIT_KEY = 'objects'

export async function startStack(overrides: Partial<S3ProxyConfig> = {}): Promise<Stack> {
  const [bao, s3] = await Promise.all([startOpenBao(), startS3Server()])
  const conn = resolveConnection({'openbao-addr': bao.addr, token: bao.token}, {}, '/nonexistent')
  const root = new OpenBaoClient(conn)
  await root.write('sys/mounts/transit', {type: 'transit'})
  await root.write(`transit/keys/${TRANSIT_KEY}`, {})
  const client = {accessKeyId: `POD${randomBytes(6).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(24).toString('base64url')}
  const config: S3ProxyConfig = {
    host: '127.0.0.1',
    port: 0,
    opsHost: '127.0.0.1',
    opsPort: 0,
    client,
    upstream: {endpoint: new URL(s3.endpoint), region: s3.region, credentials: {accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey}, payload: 'streaming'},
    bao: {...conn},
    auth: {method: 'token'},
    transit: {mount: 'transit', key: TRANSIT_KEY},
    pad: true,
    requireEncrypted: false,
    ...overrides,
  }
  const stack = {bao, root, s3, client, config} as Stack
  // A restart keeps the port, so clients made before it keep working.
  const start = async (c: S3ProxyConfig) => {
    stack.proxy = await startS3ProxyService(c)
    stack.config.port = stack.proxy.proxy.port
    // A fresh client: the old one's pooled connections died with the old server.
    stack.sdk?.destroy()
    stack.sdk = sdkFor(stack.proxy.proxy.url, client)
  }
  await start(config)
  stack.direct = sdkFor(s3.endpoint, {accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey})
  stack.restartProxy = async (o = {}) => {
    await stack.proxy.stop()
    stack.config = {...stack.config, ...o}
    await start(stack.config)
  }
  stack.stop = async () => {
    stack.sdk.destroy()
    stack.direct.destroy()
    await stack.proxy.stop()
    await root.close()
    await Promise.all([bao.stop(), s3.stop()])
  }
  return stack
}

export function sdkFor(endpoint: string, credentials: {accessKeyId: string; secretAccessKey: string}): S3Client {
  return new S3Client({endpoint, region: 'us-east-1', forcePathStyle: true, credentials, maxAttempts: 1})
}

/** Every file the S3 server stores (bodies and metadata), for canary hunts and byte comparisons. */
export function storedFiles(s3: S3Server): Map<string, Buffer> {
  const out = new Map<string, Buffer>()
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name)
      if (statSync(p).isDirectory()) walk(p)
      else out.set(p, readFileSync(p))
    }
  }
  walk(s3.root)
  walk(s3.metaDir)
  return out
}

/**
 * How the proxy logs in inside a Pod, without the Pod: a lab (real kube-apiserver and OpenBao)
 * whose OpenBao checks ServiceAccount tokens (kubernetes auth at `auth/k8s-lab`, see
 * kubernetesAuth), a Transit key `billing-objects`, and versitygw. `tokenFor` mints a TokenRequest token. The caller stops `lab` and `s3`.
 */
export async function startKubernetesAuthStack() {
  const [lab, s3] = await Promise.all([startLab(), startS3Server()])
  const root = (method: string, path: string, body?: unknown) => bao(lab.baoAddr, lab.baoToken, method, path, body)
  const tokenFor = await kubernetesAuth(lab)
  await root('POST', 'sys/mounts/transit', {type: 'transit'})
  await root('POST', 'transit/keys/billing-objects', {})
  return {lab, s3, root, tokenFor}
}
