import {Agent, request, type RequestOptions} from 'node:https'
import type {KubeConfig} from '@kubernetes/client-node'
import {exchange} from '../http-exchange.js'
import {kubeError} from './errors.js'
import {kubeClient, type KubeTarget} from './kubeconfig.js'

/**
 * Raw GETs for list calls. Discover lists every workload of a cluster: going through the typed
 * client would deserialise each object twice, and metadata-only Secret lists need an Accept
 * header the typed client cannot send.
 */
export interface KubeHttp {
  server: string
  /**
   * `peek` sees the text of a successful response as it arrives, until it returns true (or the
   * first PEEK_LIMIT characters have passed): eachListed reads a list's continue token there.
   */
  get<T>(path: string, accept?: string, peek?: (prefix: string) => boolean): Promise<T>
  /** The body as text (health endpoints through the apiserver's service proxy answer `ok`). */
  getText(path: string): Promise<string>
  /**
   * Any verb, the response as bytes in a buffer of its own whatever the status (the caller
   * decides what a status means): for Secrets with their values, which must never become
   * strings. The received chunks are zero-filled once copied; `body` is the caller's to wipe.
   */
  send(method: string, path: string, options?: {body?: Buffer; accept?: string; contentType?: string; headers?: Record<string, string>}): Promise<{status: number; bytes: Buffer}>
  /** Requests made through this client (benches report them). */
  readonly stats: {requests: number}
}

const PEEK_LIMIT = 64 * 1024

export async function kubeHttp(source: KubeConfig | KubeTarget, options: {maxSockets?: number} = {}): Promise<KubeHttp> {
  let base: RequestOptions
  let server: string
  if ('applyToHTTPSOptions' in source || source.needsClient) {
    const kc = 'applyToHTTPSOptions' in source ? source : kubeClient(source)
    const cluster = kc.getCurrentCluster()
    if (!cluster) throw new Error('the kubeconfig has no current cluster')
    base = {headers: {}}
    await kc.applyToHTTPSOptions(base)
    server = cluster.server.replace(/\/$/, '')
  } else {
    base = {headers: {...source.headers}, ...source.tls}
    server = source.server
  }
  const stats = {requests: 0}
  const agent = new Agent({keepAlive: true, maxSockets: options.maxSockets ?? 4, ca: base.ca, cert: base.cert, key: base.key, rejectUnauthorized: base.rejectUnauthorized, servername: base.servername})
  const call = (path: string, accept: string, peek?: (prefix: string) => boolean): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      stats.requests++
      const req = request(`${server}${path}`, {...base, agent, method: 'GET', headers: {...base.headers, Accept: accept}, timeout: 60_000}, (res) => {
        const chunks: Buffer[] = []
        let peeking = (res.statusCode ?? 0) < 400 ? peek : undefined
        let prefix = ''
        res.on('data', (c: Buffer) => {
          chunks.push(c)
          if (!peeking) return
          // latin1: a chunk may end inside a UTF-8 sequence; what is read here is ASCII JSON.
          prefix += c.toString('latin1', 0, Math.min(c.length, PEEK_LIMIT))
          if (peeking(prefix) || prefix.length >= PEEK_LIMIT) peeking = undefined
        })
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8')
          if ((res.statusCode ?? 0) >= 400) return reject(kubeError({statusCode: res.statusCode, body, path, server}))
          resolve(body)
        })
      })
      req.on('timeout', () => req.destroy(new Error(`timed out waiting for ${server}${path}`)))
      req.on('error', (err) => reject(kubeError({cause: err, path, server})))
      req.end()
    })
  return {
    server,
    stats,
    get: async <T>(path: string, accept = 'application/json', peek?: (prefix: string) => boolean): Promise<T> => JSON.parse(await call(path, accept, peek)) as T,
    getText: (path: string) => call(path, '*/*'),
    send(method, path, options = {}) {
      // Extra headers first: the kubeconfig's credentials are never replaced by a caller's.
      const headers: Record<string, string | number> = {...options.headers, ...(base.headers as Record<string, string>), Accept: options.accept ?? 'application/json'}
      if (options.body) {
        headers['Content-Type'] = options.contentType ?? 'application/json'
        headers['Content-Length'] = options.body.length
      }
      stats.requests++
      const timeoutError = () => new Error(`timed out waiting for ${server}${path}`)
      return exchange(request, `${server}${path}`, {...base, agent, method, headers, timeout: 60_000}, options.body, true, timeoutError).then(
        (res) => ({status: res.status, bytes: res.bytes}),
        (err: unknown) => {
          throw kubeError({cause: err, path, server})
        },
      )
    },
  }
}

export interface ListPage<T> {
  items?: T[]
  /** A Table list (`as=Table`) has rows instead of items. */
  rows?: T[]
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
}

/**
 * A list's own continue token, read from the start of its JSON before the items: the apiserver
 * writes kind, apiVersion and metadata first and streams the items after them (the first bytes
 * of a 500-Deployment page arrive ~10 ms after the request, the last ~40 ms). 'more' until the
 * items begin; 'unknown' when the start is not shaped like that.
 */
export function listHead(prefix: string): {continue?: string} | 'more' | 'unknown' {
  const at = prefix.indexOf('"items":')
  if (at < 0) return 'more'
  try {
    const head = JSON.parse(`${prefix.slice(0, at).replace(/,\s*$/, '')}}`) as {metadata?: {continue?: string}}
    return head.metadata ? {continue: head.metadata.continue || undefined} : 'unknown'
  } catch {
    return 'unknown'
  }
}

interface Pending<T> {
  page: Promise<ListPage<T>>
  /** The continue token as read early from the page's head (listHead); null: the last page. */
  early?: string | null
  next?: Pending<T>
}

/**
 * Pages are asked for one ahead: page n+1 as soon as page n's head names its token (not once
 * page n has arrived and been parsed), so the apiserver encodes page n+1 while page n streams in
 * and is worked on. At most one page is read ahead of the one being worked on. The token of the
 * whole parsed page decides: a request made on an early token that differs is dropped.
 */
export async function eachListed<T>(http: KubeHttp, path: string, each: (item: T) => void, options: EachListedOptions = {}): Promise<number> {
  const {onPage, accept, limit = PAGE_SIZE} = options
  let n = 0
  const sep = path.includes('?') ? '&' : '?'
  let current: Pending<T> | undefined
  const askNext = (p: Pending<T>): void => {
    if (p.early && !p.next) p.next = request(p.early)
  }
  const request = (token?: string): Pending<T> => {
    const p: Pending<T> = {page: undefined as unknown as Promise<ListPage<T>>}
    p.page = http.get<ListPage<T>>(`${path}${sep}limit=${limit}${token ? `&continue=${encodeURIComponent(token)}` : ''}`, accept, (prefix) => {
      const head = listHead(prefix)
      if (head === 'more') return false
      if (head !== 'unknown') {
        p.early = head.continue ?? null
        if (current === p) askNext(p)
      }
      return true
    })
    // A page asked for ahead and then dropped is never awaited: its failure must not surface.
    p.page.catch(() => undefined)
    return p
  }
  current = request()
  while (current) {
    askNext(current)
    const page: ListPage<T> = await current.page
    const token = page.metadata?.continue || undefined
    const next: Pending<T> | undefined = token === undefined ? undefined : current.next && current.early === token ? current.next : request(token)
    const items = page.items ?? page.rows ?? []
    for (const item of items) each(item)
    n += items.length
    onPage?.(n)
    current = next
  }
  return n
}

/** Every item of a list (as `keep` returns it), PAGE_SIZE per request, following `continue` tokens. */
export async function listAll<T>(http: KubeHttp, path: string, onPage?: (n: number) => void, accept?: string, keep: (item: T) => T = (i) => i, limit = PAGE_SIZE): Promise<T[]> {
  const out: T[] = []
  await eachListed<T>(http, path, (item) => out.push(keep(item)), {onPage, accept, limit})
  return out
}

/**
 * Asks the apiserver for metadata only. Not for Secrets: metadata includes annotations, and a
 * Secret created by client-side `kubectl apply` carries all its values in
 * `kubectl.kubernetes.io/last-applied-configuration`. Secrets are listed with secretNames().
 */
export const METADATA_ONLY = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1'

/** A server-side Table with no object in its rows (`includeObject=None`): only the printed columns cross the wire. */
export const TABLE = 'application/json;as=Table;g=meta.k8s.io;v=v1'

interface TableRow {
  cells: unknown[]
}

/**
 * Name -> type of every Secret in one namespace, as a Table without objects: name, type, key
 * count and age are all that cross the wire (kubectl get secrets prints the same). A Table row
 * without its object names no namespace, hence one namespace per call.
 */
export async function secretNames(http: KubeHttp, namespace: string, onPage?: (n: number) => void): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  // The apiserver's Secret columns: Name, Type, Data (key count), Age (test/lib/kube/http.test.ts checks).
  const each = (row: TableRow): void => {
    out.set(String(row.cells[0]), String(row.cells[1] ?? ''))
  }
  await eachListed<TableRow>(http, `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets?includeObject=None`, each, {accept: TABLE, onPage})
  return out
}
