import {Agent, interceptors, request, type Dispatcher} from 'undici'

// Registries on object storage answer blob GETs with a redirect.
const dispatcher: Dispatcher = new Agent({connections: 8}).compose(interceptors.redirect({maxRedirections: 3}))
import {CloudtaserError, ExitCode} from '../../lib/errors.js'

/**
 * Just enough of the OCI distribution API to learn what an image runs: manifest or index (then
 * the platform's manifest), then the config blob's Entrypoint and Cmd. Bearer-token and basic
 * auth from pull secrets. Results are cached by manifest digest, so a digest-pinned image costs
 * no request after the first and a tag costs one HEAD. Every request has a bounded timeout: the
 * webhook must answer before the apiserver's own timeout.
 */
export interface ImageCommand {
  entrypoint: string[]
  cmd: string[]
  digest: string
}

export interface ImageRef {
  /** Host[:port] as used for credentials and in URLs. */
  registry: string
  repository: string
  reference: string
}

export type Credentials = Record<string, {username?: string; password?: string; auth?: string}>

const ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ')

export function parseImageRef(image: string): ImageRef {
  let rest = image
  let registry = 'docker.io'
  const slash = rest.indexOf('/')
  const first = slash < 0 ? '' : rest.slice(0, slash)
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    registry = first
    rest = rest.slice(slash + 1)
  }
  let reference = 'latest'
  const at = rest.indexOf('@')
  if (at >= 0) {
    reference = rest.slice(at + 1)
    rest = rest.slice(0, at)
  } else {
    const colon = rest.lastIndexOf(':')
    if (colon > rest.lastIndexOf('/')) {
      reference = rest.slice(colon + 1)
      rest = rest.slice(0, colon)
    }
  }
  if (registry === 'docker.io' && !rest.includes('/')) rest = `library/${rest}`
  return {registry, repository: rest, reference}
}

/** `.dockerconfigjson` of a kubernetes.io/dockerconfigjson Secret -> credentials by registry host. */
export function credentialsFromDockerConfig(json: string): Credentials {
  const auths = (JSON.parse(json) as {auths?: Credentials}).auths ?? {}
  const out: Credentials = {}
  for (const [k, v] of Object.entries(auths)) out[k.replace(/^https?:\/\//, '').replace(/\/.*$/, '')] = v
  return out
}

const regError = (ref: ImageRef, message: string, cause?: unknown) =>
  new CloudtaserError('REGISTRY_LOOKUP_FAILED', `cannot read the entrypoint of ${ref.registry}/${ref.repository}:${ref.reference} from the registry: ${message}`, {
    exitCode: ExitCode.UNAVAILABLE,
    hint: 'Set command on the container, or make the image readable (imagePullSecrets); `target discover` can record the entrypoint so admission needs no registry.',
    cause,
  })

export interface RegistryClientOptions {
  timeoutMs?: number
  platform?: {os: string; architecture: string}
  /** Hosts reached over plain HTTP; loopback hosts always are (as Docker does). */
  insecure?: string[]
  /**
   * Registry host -> endpoint URL that serves it (as containerd's hosts.toml `server`/mirror):
   * images keep their names (`cloudtaser.lab/redis:7.0`) while lookups go to the mirror, whose
   * scheme says HTTP or HTTPS. Credentials stay keyed by the name in the image.
   */
  mirrors?: Record<string, string>
}

/** `host=URL` pairs (flag values) -> mirrors; a bad pair is an error naming it. */
export function parseMirrors(pairs: string[]): Record<string, string> | {error: string} {
  const out: Record<string, string> = {}
  for (const pair of pairs) {
    const eq = pair.indexOf('=')
    const host = pair.slice(0, eq)
    const url = pair.slice(eq + 1).replace(/\/+$/, '')
    if (eq <= 0 || !/^https?:\/\/[^/\s]+$/.test(url)) return {error: `"${pair}" is not host=http(s)://endpoint (e.g. cloudtaser.lab=http://10.245.0.2:5000)`}
    out[host] = url
  }
  return out
}

export class RegistryClient {
  private readonly cache = new Map<string, Omit<ImageCommand, 'digest'>>()
  private readonly timeoutMs: number
  private readonly platform: {os: string; architecture: string}
  stats = {requests: 0, cacheHits: 0}

  constructor(private readonly options: RegistryClientOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 3000
    this.platform = options.platform ?? {os: 'linux', architecture: process.arch === 'arm64' ? 'arm64' : 'amd64'}
  }

  private base(ref: ImageRef): string {
    const mirror = this.options.mirrors?.[ref.registry]
    if (mirror) return `${mirror}/v2/${ref.repository}`
    const host = ref.registry === 'docker.io' ? 'registry-1.docker.io' : ref.registry
    const loopback = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/.test(host)
    return `${loopback || this.options.insecure?.includes(host) ? 'http' : 'https'}://${host}/v2/${ref.repository}`
  }

  async resolve(image: string, creds: Credentials = {}): Promise<ImageCommand> {
    const ref = parseImageRef(image)
    const deadline = AbortSignal.timeout(this.timeoutMs)
    const session = new AuthSession(ref, creds[ref.registry === 'docker.io' ? 'index.docker.io' : ref.registry] ?? creds[ref.registry], deadline, this.stats)
    try {
      let digest = ref.reference.startsWith('sha256:') ? ref.reference : undefined
      if (!digest) {
        const head = await session.fetch(`${this.base(ref)}/manifests/${ref.reference}`, 'HEAD', ACCEPT)
        digest = head.headers['docker-content-digest'] as string | undefined
      }
      const hit = digest ? this.cache.get(digest) : undefined
      if (hit) {
        this.stats.cacheHits++
        return {...hit, digest: digest!}
      }
      let m = await session.json<Manifest>(`${this.base(ref)}/manifests/${digest ?? ref.reference}`, ACCEPT)
      if (m.manifests) {
        const p = m.manifests.find((d) => d.platform?.os === this.platform.os && d.platform?.architecture === this.platform.architecture)
        if (!p) throw regError(ref, `the index has no ${this.platform.os}/${this.platform.architecture} image`)
        m = await session.json<Manifest>(`${this.base(ref)}/manifests/${p.digest}`, ACCEPT)
      }
      if (!m.config?.digest) throw regError(ref, 'the manifest has no config')
      const config = await session.json<{config?: {Entrypoint?: string[] | null; Cmd?: string[] | null}}>(`${this.base(ref)}/blobs/${m.config.digest}`, '*/*')
      const result = {entrypoint: config.config?.Entrypoint ?? [], cmd: config.config?.Cmd ?? []}
      if (digest) this.cache.set(digest, result)
      return {...result, digest: digest ?? m.config.digest}
    } catch (err) {
      if (err instanceof CloudtaserError) throw err
      throw regError(ref, deadline.aborted ? `no answer within ${this.timeoutMs} ms` : (err as Error).message, err)
    }
  }
}

interface Manifest {
  manifests?: {digest: string; platform?: {os?: string; architecture?: string}}[]
  config?: {digest: string}
}

/** One lookup's auth: anonymous first, then the scheme the registry asks for in WWW-Authenticate. */
class AuthSession {
  private authorization: string | undefined
  constructor(
    private readonly ref: ImageRef,
    private readonly cred: Credentials[string] | undefined,
    private readonly signal: AbortSignal,
    private readonly stats: {requests: number},
  ) {}

  private basic(): string | undefined {
    if (!this.cred) return undefined
    return this.cred.auth ?? (this.cred.username !== undefined ? Buffer.from(`${this.cred.username}:${this.cred.password ?? ''}`).toString('base64') : undefined)
  }

  async fetch(url: string, method: 'GET' | 'HEAD', accept: string): Promise<{status: number; headers: Record<string, string | string[] | undefined>; body: Buffer}> {
    for (let attempt = 0; ; attempt++) {
      this.stats.requests++
      const headers: Record<string, string> = {accept}
      if (this.authorization) headers.authorization = this.authorization
      const res = await request(url, {method, headers, signal: this.signal, dispatcher})
      const body = Buffer.from(await res.body.arrayBuffer())
      if (res.statusCode === 401 && attempt === 0) {
        await this.authenticate(String(res.headers['www-authenticate'] ?? ''))
        continue
      }
      if (res.statusCode >= 300) throw regError(this.ref, `${method} ${new URL(url).pathname}: HTTP ${res.statusCode}${res.statusCode === 401 ? ' (no or wrong pull secret)' : ''}`)
      return {status: res.statusCode, headers: res.headers, body}
    }
  }

  async json<T>(url: string, accept: string): Promise<T> {
    return JSON.parse((await this.fetch(url, 'GET', accept)).body.toString('utf8')) as T
  }

  private async authenticate(challenge: string): Promise<void> {
    const basic = this.basic()
    if (/^basic/i.test(challenge)) {
      if (!basic) throw regError(this.ref, 'the registry wants credentials and the pod has no matching imagePullSecret')
      this.authorization = `Basic ${basic}`
      return
    }
    const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]))
    if (!params.realm) throw regError(this.ref, `unsupported auth challenge "${challenge}"`)
    const u = new URL(params.realm)
    if (params.service) u.searchParams.set('service', params.service)
    u.searchParams.set('scope', params.scope ?? `repository:${this.ref.repository}:pull`)
    this.stats.requests++
    const res = await request(u, {headers: basic ? {authorization: `Basic ${basic}`} : {}, signal: this.signal, dispatcher})
    const body = (await res.body.json()) as {token?: string; access_token?: string}
    if (res.statusCode !== 200) throw regError(this.ref, `token endpoint: HTTP ${res.statusCode}`)
    this.authorization = `Bearer ${body.token ?? body.access_token}`
  }
}
