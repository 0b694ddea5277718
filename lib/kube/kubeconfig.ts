import {existsSync, readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {homedir} from 'node:os'
import {delimiter, dirname, isAbsolute, join} from 'node:path'
import type {KubeConfig} from '@kubernetes/client-node'
import jsyaml from 'js-yaml'
import {CloudtaserError, ExitCode} from '../errors.js'

/**
 * Where and as whom to talk to the API server, resolved from kubeconfig files the way kubectl
 * does: --kubeconfig, else every file in $KUBECONFIG merged (the first file to define a name or
 * the current context wins), else ~/.kube/config; --context picks another context.
 *
 * Why not @kubernetes/client-node's KubeConfig: importing it costs about 0.5 s and 80 MB of RSS
 * (it loads every generated API), which was a third of discover's time and memory on 10,000
 * workloads. Static credentials (certificates, tokens, token files) are handled here; anything
 * that needs code to run (exec plugins, auth providers, proxies) is handed to client-node,
 * which is then loaded on demand: `needsClient` says so.
 */
export interface KubeTarget {
  server: string
  context: string
  cluster: string
  /** TLS and auth settings for node:https, or undefined when client-node must produce them. */
  tls?: {ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized: boolean; servername?: string}
  headers?: Record<string, string>
  needsClient?: {reason: string; files: string[]}
  /** Running in a Pod without a kubeconfig: the ServiceAccount's files, re-read by long-lived clients. */
  inCluster?: {dir: string}
  /** The context's namespace, the default of `-n` as in kubectl. */
  namespace?: string
}

/** Where the kubelet mounts a Pod's ServiceAccount token, CA and namespace. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount'

/**
 * In a Pod with no kubeconfig, as client-go's rest.InClusterConfig: the kubernetes Service from
 * the environment, the mounted ServiceAccount token and CA. `CLOUDTASER_SERVICE_ACCOUNT_DIR`
 * moves the directory (tests; sidecars that mount it elsewhere).
 */
function inClusterTarget(env: NodeJS.ProcessEnv): KubeTarget | undefined {
  const host = env.KUBERNETES_SERVICE_HOST
  const port = env.KUBERNETES_SERVICE_PORT
  const dir = env.CLOUDTASER_SERVICE_ACCOUNT_DIR || SERVICE_ACCOUNT_DIR
  if (!host || !port || !existsSync(join(dir, 'token'))) return undefined
  const read = (name: string): Buffer => {
    try {
      return readFileSync(join(dir, name))
    } catch (err) {
      throw configError(`in a Pod, but cannot read ${join(dir, name)}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, err)
    }
  }
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    context: 'in-cluster',
    cluster: 'in-cluster',
    tls: {ca: read('ca.crt'), rejectUnauthorized: true},
    headers: {Authorization: `Bearer ${read('token').toString('utf8').trim()}`},
    inCluster: {dir},
  }
}

interface NamedCluster {name: string; cluster?: Record<string, unknown>}
interface NamedUser {name: string; user?: Record<string, unknown>}
interface NamedContext {name: string; context?: {cluster?: string; user?: string; namespace?: string}}
interface KubeconfigFile {
  clusters?: NamedCluster[]
  users?: NamedUser[]
  contexts?: NamedContext[]
  'current-context'?: string
}

export interface KubeconfigSelection {
  kubeconfig?: string
  context?: string
}

/** The files kubectl would read, in precedence order. */
export function kubeconfigFiles(sel: KubeconfigSelection, env: NodeJS.ProcessEnv = process.env): string[] {
  if (sel.kubeconfig) return [sel.kubeconfig]
  const fromEnv = (env.KUBECONFIG ?? '').split(delimiter).filter(Boolean)
  return fromEnv.length > 0 ? fromEnv : [join(env.HOME || homedir(), '.kube', 'config')]
}

const configError = (message: string, cause?: unknown): CloudtaserError =>
  new CloudtaserError('KUBECONFIG_INVALID', message, {exitCode: ExitCode.CONFIG, hint: 'Pass --kubeconfig or set KUBECONFIG, as for kubectl.', cause})

export function resolveKubeconfig(sel: KubeconfigSelection, env: NodeJS.ProcessEnv = process.env): KubeTarget {
  const files = kubeconfigFiles(sel, env)
  const clusters = new Map<string, {cluster: Record<string, unknown>; dir: string}>()
  const users = new Map<string, {user: Record<string, unknown>; dir: string}>()
  const contexts = new Map<string, NonNullable<NamedContext['context']>>()
  let current: string | undefined
  let read = 0
  for (const file of files) {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (err) {
      // kubectl skips missing files in KUBECONFIG, but not an explicit --kubeconfig.
      if (sel.kubeconfig || (err as NodeJS.ErrnoException).code !== 'ENOENT') throw configError(`cannot read kubeconfig ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, err)
      continue
    }
    let doc: KubeconfigFile
    try {
      doc = (jsyaml.load(text) ?? {}) as KubeconfigFile
    } catch (err) {
      throw configError(`cannot parse kubeconfig ${file}: ${(err as Error).message.split('\n')[0]}`, err)
    }
    read++
    const dir = dirname(file)
    for (const c of doc.clusters ?? []) if (c?.name && !clusters.has(c.name)) clusters.set(c.name, {cluster: c.cluster ?? {}, dir})
    for (const u of doc.users ?? []) if (u?.name && !users.has(u.name)) users.set(u.name, {user: u.user ?? {}, dir})
    for (const c of doc.contexts ?? []) if (c?.name && !contexts.has(c.name)) contexts.set(c.name, c.context ?? {})
    current ||= doc['current-context'] || undefined
  }
  if (read === 0) {
    // kubectl's order: an explicit file or KUBECONFIG first, then ~/.kube/config, then the Pod's own identity.
    const pod = sel.kubeconfig || env.KUBECONFIG ? undefined : inClusterTarget(env)
    if (pod) return pod
    throw configError(`no kubeconfig found (looked at ${files.join(', ')}) and not running in a Pod`)
  }
  const contextName = sel.context ?? current
  if (!contextName) throw new CloudtaserError('KUBE_NO_CLUSTER', 'the kubeconfig has no current context', {exitCode: ExitCode.CONFIG, hint: 'Select one with --context.'})
  const context = contexts.get(contextName)
  if (!context) {
    throw new CloudtaserError('KUBE_CONTEXT_UNKNOWN', `no context "${contextName}" in the kubeconfig (have: ${[...contexts.keys()].join(', ') || 'none'})`, {exitCode: ExitCode.CONFIG})
  }
  const cluster = context.cluster ? clusters.get(context.cluster) : undefined
  const server = cluster?.cluster.server
  if (!cluster || typeof server !== 'string') {
    throw new CloudtaserError('KUBE_NO_CLUSTER', `context "${contextName}" names no cluster with a server`, {exitCode: ExitCode.CONFIG, hint: 'Select another context with --context.'})
  }
  const user = (context.user ? users.get(context.user) : undefined) ?? {user: {}, dir: cluster.dir}
  const target: KubeTarget = {server: server.replace(/\/$/, ''), context: contextName, cluster: context.cluster!, ...(context.namespace ? {namespace: context.namespace} : {})}

  const dynamic = ['exec', 'auth-provider'].find((k) => user.user[k]) ?? (cluster.cluster['proxy-url'] ? 'proxy-url' : undefined) ?? (user.user.username ? 'username' : undefined)
  if (dynamic || !server.startsWith('https://')) return {...target, needsClient: {reason: dynamic ?? 'plain http', files}}

  const material = (data: unknown, file: unknown, dir: string): Buffer | undefined => {
    if (typeof data === 'string' && data) return Buffer.from(data, 'base64')
    if (typeof file === 'string' && file) {
      const path = isAbsolute(file) ? file : join(dir, file)
      try {
        return readFileSync(path)
      } catch (err) {
        throw configError(`cannot read ${path} named in the kubeconfig: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, err)
      }
    }
    return undefined
  }
  const c = cluster.cluster
  const u = user.user
  target.tls = {
    ca: material(c['certificate-authority-data'], c['certificate-authority'], cluster.dir),
    cert: material(u['client-certificate-data'], u['client-certificate'], user.dir),
    key: material(u['client-key-data'], u['client-key'], user.dir),
    rejectUnauthorized: c['insecure-skip-tls-verify'] !== true,
    ...(typeof c['tls-server-name'] === 'string' ? {servername: c['tls-server-name']} : {}),
  }
  const token = typeof u.token === 'string' && u.token ? u.token : material(undefined, u.tokenFile, user.dir)?.toString('utf8').trim()
  if (token) target.headers = {Authorization: `Bearer ${token}`}
  return target
}

// Loaded on first use: commands that only list (discover, fingerprint) never load client-node.
const requireHere = createRequire(import.meta.url)

/**
 * The typed client's configuration for a resolved target, for the services that use
 * @kubernetes/client-node's APIs (protect, connect, the operator). Which file, context, cluster
 * and user was decided by resolveKubeconfig alone; static credentials are handed over as data.
 * Exec plugins, auth providers and proxies (needsClient) must run in client-node, so it loads the
 * same files and takes the same context.
 */
export function kubeClient(target: KubeTarget): KubeConfig {
  const {KubeConfig: Config} = requireHere('@kubernetes/client-node') as typeof import('@kubernetes/client-node')
  const kc = new Config()
  if (target.inCluster) {
    // client-node re-reads the token file, which the kubelet rotates: a daemon outlives any one token.
    const dir = target.inCluster.dir
    kc.loadFromClusterAndUser(
      {name: target.cluster, server: target.server, caFile: join(dir, 'ca.crt'), skipTLSVerify: false},
      {name: 'service-account', authProvider: {name: 'tokenFile', config: {tokenFile: join(dir, 'token')}}},
    )
    return kc
  }
  if (target.needsClient) {
    try {
      if (target.needsClient.files.length === 1) kc.loadFromFile(target.needsClient.files[0]!)
      else kc.loadFromDefault()
      kc.setCurrentContext(target.context)
    } catch (err) {
      throw new CloudtaserError('KUBECONFIG_INVALID', `cannot use kubeconfig context ${target.context} (${target.needsClient.reason}): ${(err as Error).message}`, {exitCode: ExitCode.CONFIG, cause: err})
    }
    return kc
  }
  const tls = target.tls
  const token = target.headers?.Authorization?.replace(/^Bearer /, '')
  kc.loadFromOptions({
    clusters: [{name: target.cluster, server: target.server, caData: tls?.ca?.toString('base64'), skipTLSVerify: tls?.rejectUnauthorized === false, ...(tls?.servername ? {tlsServerName: tls.servername} : {})}],
    users: [{name: 'user', certData: tls?.cert?.toString('base64'), keyData: tls?.key?.toString('base64'), ...(token ? {token} : {})}],
    contexts: [{name: target.context, cluster: target.cluster, user: 'user'}],
    currentContext: target.context,
  })
  return kc
}
