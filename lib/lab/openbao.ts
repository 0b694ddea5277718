import {randomBytes} from 'node:crypto'
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {request as httpRequest} from 'node:http'
import {request as httpsRequest} from 'node:https'
import {join} from 'node:path'
import {labError} from './errors.js'
import {makeInstanceDir} from './instance-dir.js'
import {freePorts} from './net.js'
import {baoBinary} from './paths.js'
import {spawnManaged, type ManagedProcess} from './process.js'
import {retryOnPortClash, waitReady} from './wait.js'

export interface OpenBaoOptions {
  /** Raft storage in `dir`, initialised with one unseal key, so `restart()` keeps the data. */
  persistent?: boolean
  /** Default: a fresh temp dir, removed by stop(). A persistent server reuses an existing one. */
  dir?: string
  daemon?: boolean
  readyTimeoutMs?: number
  /** Dev mode only: HTTPS with a CA and certificate the server makes at start (`-dev-tls`); see caPath. */
  tls?: boolean
  /** Dev mode only: more server configuration (HCL), e.g. an audit device, which OpenBao takes only from a config file. */
  config?: string
  /** The address to listen on, default 127.0.0.1; a lab with a node uses the host's end of its veth, which Pods reach too. */
  host?: string
  /** Run inside this network namespace (`ip netns exec`; root): an OpenBao the cluster cannot reach, for beacon mode. */
  netns?: string
}

export interface OpenBao {
  /** http://<host>:<port> (host 127.0.0.1 unless given) */
  addr: string
  /** The root token: random per instance (dev), or from `operator init` (persistent). */
  token: string
  port: number
  dir: string
  persistent: boolean
  /** The single unseal key of a persistent server. */
  unsealKey?: string
  /** With `tls`: the CA that signed the server's certificate (PEM file, and its text). */
  caPath?: string
  caPem?: string
  process: ManagedProcess
  /** Milliseconds until the server answered as unsealed and active. */
  timings: {ready: number}
  /** Persistent only: stop the server, keep the data, start it on the same port and unseal. */
  restart(): Promise<void>
  stop(): Promise<void>
}

interface InitResult {
  keys_base64: string[]
  root_token: string
}

export async function startOpenBao(options: OpenBaoOptions = {}): Promise<OpenBao> {
  const t0 = Date.now()
  const bao = baoBinary()
  const timeoutMs = options.readyTimeoutMs ?? 30_000
  const owned = options.dir ? undefined : makeInstanceDir('bao')
  const dir = options.dir ?? owned!.dir
  mkdirSync(dir, {recursive: true})
  const persistent = options.persistent ?? false
  if (persistent && (options.tls || options.config)) throw labError('BAD_OPTIONS', 'tls and config are for a dev-mode OpenBao; a persistent one writes its own config')
  const scheme = options.tls ? 'https' : 'http'
  const tlsDir = join(dir, 'tls')
  const caPath = options.tls ? join(tlsDir, 'vault-ca.pem') : undefined
  if (options.tls) mkdirSync(tlsDir, {recursive: true})
  const host = options.host ?? '127.0.0.1'
  const extraConfig = options.config === undefined ? [] : [`-config=${writeExtraConfig(dir, options.config)}`]
  let proc: ManagedProcess | undefined

  const launch = async (port: number, clusterPort: number, token: string) => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      // bao writes a token helper file under $HOME; keep it in the instance dir.
      HOME: dir,
      BAO_ADDR: `${scheme}://${host}:${port}`,
    }
    delete env.BAO_TOKEN
    delete env.VAULT_TOKEN
    // The environment, not argv: argv is world-readable in ps.
    if (!persistent) env.BAO_DEV_ROOT_TOKEN_ID = token
    const args = persistent
      ? ['server', `-config=${writeConfig(dir, port, clusterPort)}`]
      : ['server', '-dev', '-dev-no-store-token', `-dev-listen-address=${host}:${port}`, ...(options.tls ? ['-dev-tls', `-dev-tls-cert-dir=${tlsDir}`] : []), ...extraConfig]
    // `ip netns exec` execs bao after joining the namespace: the process managed is bao itself.
    const [command, argv] = options.netns ? ['ip', ['netns', 'exec', options.netns, bao, ...args]] : [bao, args]
    const p = spawnManaged({name: 'bao', command, args: argv, env, cwd: dir, logPath: join(dir, 'bao.log'), daemon: options.daemon})
    proc = p
    try {
      const probe = () => health(`${scheme}://${host}:${port}`, caPath)
      await waitReady(p, 'an answer on /v1/sys/health', async () => (await probe()) !== 0, timeoutMs)
      if (persistent) await initAndUnseal(port, dir)
      await waitReady(p, 'active and unsealed', async () => (await probe()) === 200, timeoutMs)
    } catch (err) {
      await p.stop(0)
      throw err
    }
  }

  const removeDir = () => owned?.remove()
  try {
    let token = randomBytes(24).toString('base64url')
    const [port, clusterPort] = await retryOnPortClash(async () => {
      const ports = (await freePorts(2)) as [number, number]
      await launch(...ports, token)
      return ports
    })
    if (persistent) token = readInit(dir).root_token
    const addr = `${scheme}://${host}:${port}`
    let stopped: Promise<void> | undefined
    const instance: OpenBao = {
      addr,
      token,
      port,
      dir,
      persistent,
      unsealKey: persistent ? readInit(dir).keys_base64[0] : undefined,
      ...(caPath ? {caPath, caPem: readFileSync(caPath, 'utf8')} : {}),
      process: proc!,
      timings: {ready: Date.now() - t0},
      restart: async () => {
        if (!persistent) throw labError('NOT_PERSISTENT', 'a dev-mode OpenBao keeps its data in memory; restart needs {persistent: true}')
        await instance.process.stop()
        await launch(port, clusterPort, token)
        instance.process = proc!
      },
      stop: () => (stopped ??= instance.process.stop().finally(removeDir)),
    }
    return instance
  } catch (err) {
    await proc?.stop(0).catch(() => {})
    removeDir()
    if ((err as {code?: string}).code?.startsWith('LAB_')) throw err
    throw labError('START_FAILED', `OpenBao did not start: ${(err as Error).message}`, undefined, err)
  }
}

/**
 * The status of /v1/sys/health (200 active, 501 not initialised, 503 sealed), 0 if no answer. Over
 * HTTPS only the given CA is trusted, once the server has written it.
 */
function health(addr: string, caPath?: string): Promise<number> {
  const ca = caPath && existsSync(caPath) ? readFileSync(caPath, 'utf8') : undefined
  if (caPath && !ca) return Promise.resolve(0)
  return new Promise((resolve) => {
    const req = (ca ? httpsRequest : httpRequest)(`${addr}/v1/sys/health`, {ca, timeout: 1000}, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('timeout', () => req.destroy()).on('error', () => resolve(0))
    req.end()
  })
}

function writeExtraConfig(dir: string, hcl: string): string {
  const path = join(dir, 'extra.hcl')
  writeFileSync(path, hcl)
  return path
}

/** OpenBao 2.x dropped the file backend: a single-node raft cluster, both ports on loopback. */
function writeConfig(dir: string, port: number, clusterPort: number): string {
  const path = join(dir, 'config.hcl')
  mkdirSync(join(dir, 'raft'), {recursive: true})
  writeFileSync(
    path,
    [
      `storage "raft" {`,
      `  path = ${JSON.stringify(join(dir, 'raft'))}`,
      `  node_id = "lab"`,
      // Production timing (1) instead of the default 5: leader election in ~1 s, not ~5 s.
      `  performance_multiplier = 1`,
      `}`,
      `listener "tcp" {`,
      `  address = "127.0.0.1:${port}"`,
      `  cluster_address = "127.0.0.1:${clusterPort}"`,
      `  tls_disable = true`,
      `}`,
      `api_addr = "http://127.0.0.1:${port}"`,
      `cluster_addr = "http://127.0.0.1:${clusterPort}"`,
      '',
    ].join('\n'),
  )
  return path
}

const initPath = (dir: string) => join(dir, 'init.json')
const readInit = (dir: string) => JSON.parse(readFileSync(initPath(dir), 'utf8')) as InitResult

async function api(port: number, path: string, body: unknown): Promise<unknown> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, {method: 'PUT', body: JSON.stringify(body), signal: AbortSignal.timeout(10_000)})
  const text = await r.text()
  if (!r.ok) throw labError('OPENBAO_API', `PUT ${path}: HTTP ${r.status}: ${text}`)
  return text ? JSON.parse(text) : undefined
}

/** `bao operator init -key-shares=1 -key-threshold=1` on first start, then unseal with that key. */
async function initAndUnseal(port: number, dir: string): Promise<void> {
  if (!existsSync(initPath(dir))) {
    const init = (await api(port, '/v1/sys/init', {secret_shares: 1, secret_threshold: 1})) as InitResult
    writeFileSync(initPath(dir), JSON.stringify(init), {mode: 0o600})
  }
  const key = readInit(dir).keys_base64[0]
  await api(port, '/v1/sys/unseal', {key})
}
