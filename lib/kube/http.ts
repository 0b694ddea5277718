import {Agent, request, type RequestOptions} from 'node:https'
import type {KubeConfig} from '@kubernetes/client-node'
import {CloudtaserError, ExitCode} from '../errors.js'
import {kubeError} from './errors.js'
import type {KubeTarget} from './kubeconfig.js'

/** Exec plugins, auth providers and proxies: client-node runs them, loaded only when needed. */
async function clientFor(target: KubeTarget): Promise<KubeConfig> {
  const {KubeConfig} = await import('@kubernetes/client-node')
  const kc = new KubeConfig()
  try {
    if (target.needsClient!.files.length === 1) kc.loadFromFile(target.needsClient!.files[0]!)
    else kc.loadFromDefault()
    kc.setCurrentContext(target.context)
  } catch (err) {
    throw new CloudtaserError('KUBECONFIG_INVALID', `cannot use kubeconfig context ${target.context} (${target.needsClient!.reason}): ${(err as Error).message}`, {exitCode: ExitCode.CONFIG, cause: err})
  }
  return kc
}

/**
 * Raw GETs for list calls. Discover lists every workload of a cluster: going through the typed
 * client would deserialise each object twice, and metadata-only Secret lists need an Accept
 * header the typed client cannot send.
 */
export interface KubeHttp {
  server: string
  get<T>(path: string, accept?: string): Promise<T>
}

export async function kubeHttp(source: KubeConfig | KubeTarget): Promise<KubeHttp> {
  let base: RequestOptions
  let server: string
  if ('applyToHTTPSOptions' in source || source.needsClient) {
    const kc = 'applyToHTTPSOptions' in source ? source : await clientFor(source)
    const cluster = kc.getCurrentCluster()
    if (!cluster) throw new Error('the kubeconfig has no current cluster')
    base = {headers: {}}
    await kc.applyToHTTPSOptions(base)
    server = cluster.server.replace(/\/$/, '')
  } else {
    base = {headers: {...source.headers}, ...source.tls}
    server = source.server
  }
  const agent = new Agent({keepAlive: true, maxSockets: 4, ca: base.ca, cert: base.cert, key: base.key, rejectUnauthorized: base.rejectUnauthorized, servername: base.servername})
  return {
    server,
    get<T>(path: string, accept = 'application/json'): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const req = request(`${server}${path}`, {...base, agent, method: 'GET', headers: {...base.headers, Accept: accept}, timeout: 60_000}, (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () => {
            const body = Buffer.concat(chunks).toString('utf8')
            if ((res.statusCode ?? 0) >= 400) return reject(kubeError({statusCode: res.statusCode, body, path, server}))
            try {
              resolve(JSON.parse(body) as T)
            } catch (err) {
              reject(err)
            }
          })
        })
        req.on('timeout', () => req.destroy(new Error(`timed out waiting for ${server}${path}`)))
        req.on('error', (err) => reject(kubeError({cause: err, path, server})))
        req.end()
      })
    },
  }
}

export interface ListPage<T> {
  items: T[]
  metadata?: {continue?: string; resourceVersion?: string}
}

/** Items per list request: large enough to keep round trips few, small enough to bound one response. */
export const PAGE_SIZE = 500

/**
 * Hands every item of a list to `each`, PAGE_SIZE per request, following `continue` tokens.
 * Nothing is kept: memory follows what `each` keeps, not what was listed. Returns the count.
 */
export interface EachListedOptions {
  onPage?: (n: number) => void
  accept?: string
  limit?: number
  /** Stops before the next page is asked for. */
  signal?: AbortSignal
}

export async function eachListed<T>(http: KubeHttp, path: string, each: (item: T) => void, options: EachListedOptions = {}): Promise<number> {
  const {onPage, accept, limit = PAGE_SIZE, signal} = options
  signal?.throwIfAborted()
  let n = 0
  const sep = path.includes('?') ? '&' : '?'
  const fetchPage = (token?: string): Promise<ListPage<T>> => http.get<ListPage<T>>(`${path}${sep}limit=${limit}${token ? `&continue=${encodeURIComponent(token)}` : ''}`, accept)
  let pending: Promise<ListPage<T>> | undefined = fetchPage()
  while (pending) {
    const page: ListPage<T> = await pending
    // Ask for the next page before working on this one, so the apiserver and we work at once.
    const token = page.metadata?.continue || undefined
    signal?.throwIfAborted()
    pending = token ? fetchPage(token) : undefined
    for (const item of page.items ?? []) each(item)
    n += page.items?.length ?? 0
    onPage?.(n)
  }
  return n
}

/** Every item of a list (as `keep` returns it), PAGE_SIZE per request, following `continue` tokens. */
export async function listAll<T>(http: KubeHttp, path: string, onPage?: (n: number) => void, accept?: string, keep: (item: T) => T = (i) => i, limit = PAGE_SIZE): Promise<T[]> {
  const out: T[] = []
  await eachListed<T>(http, path, (item) => out.push(keep(item)), {onPage, accept, limit})
  return out
}

/** Asks the apiserver for metadata only: names and labels cross the wire, values never do. */
export const METADATA_ONLY = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1'
