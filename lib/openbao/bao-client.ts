import {setTimeout as sleep} from 'node:timers/promises'
import type {ConnectionSettings} from './config.js'
import {CloudtaserError} from '../errors.js'
import {baoError, isTlsError} from './errors.js'
import type {Transport} from './transport.js'

export interface BaoResponse<T = unknown> {
  status: number
  body: T | undefined
}

export interface CallOptions {
  body?: unknown
  /**
   * The JSON body as bytes, instead of `body`: for writes that carry a secret, which the caller
   * builds without a JavaScript string of it and zero-fills after the call.
   */
  rawBody?: Buffer
  /** Statuses returned to the caller instead of being turned into errors (404 is the usual one). */
  accept?: readonly number[]
  /** Query string parameters, e.g. {list: 'true'}. */
  query?: Record<string, string>
  /**
   * callRaw only: zero-fill the body chunks as they are copied into the returned buffer, which
   * the caller zero-fills in turn (reads that carry secret values).
   */
  wipe?: boolean
}

/** Counted per HTTP attempt, retries included: what the bench reports. */
export interface ClientStats {
  requests: number
  retries: number
  byMethod: Record<string, number>
}

const RETRYABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
])

const capabilityOf = (method: string, query?: Record<string, string>): string =>
  query?.list === 'true' ? 'list' : method === 'GET' ? 'read' : method === 'DELETE' ? 'delete' : 'update'

const errorsOf = (body: unknown): string => {
  const errors = (body as {errors?: unknown} | undefined)?.errors
  return Array.isArray(errors) ? errors.filter((e) => typeof e === 'string').join('; ') : ''
}

/**
 * The one OpenBao client of the project (CLI commands and daemons; the wrapper is Rust), over a
 * Transport: node:http(s) for every client that reaches OpenBao itself (OpenBaoClient in
 * client.ts), the apiserver's service proxy for the migrator through the broker. TLS
 * verification is always on; a given CA is the only one trusted (as BAO_CACERT / VAULT_CACERT
 * for the bao CLI and Vault's agent), else Node's CAs. Retries 429, 5xx (except a sealed
 * server, which no retry fixes) and connection errors with capped exponential backoff and
 * jitter. Turns every failure into a CloudtaserError that names method, path and
 * capability.
 */
export class BaoClient {
  readonly stats: ClientStats = {requests: 0, retries: 0, byMethod: {}}
  readonly addr: string
  private tokenValid: Promise<boolean> | undefined

  constructor(
    protected readonly settings: ConnectionSettings,
    private readonly transport: Transport,
    options: {backoffMs?: number} = {},
  ) {
    this.addr = settings.addr
    this.backoffMs = options.backoffMs ?? 100
  }

  private readonly backoffMs: number

  /** JSON in, JSON out. */
  async call<T = unknown>(method: string, path: string, options: CallOptions = {}): Promise<BaoResponse<T>> {
    const {status, bytes} = await this.callRaw(method, path, options)
    let body: T | undefined
    if (bytes.length > 0) {
      try {
        body = JSON.parse(bytes.toString('utf8')) as T
      } catch {
        body = undefined
      }
    }
    return {status, body}
  }

  /** GET that returns undefined on 404. */
  async read<T = unknown>(path: string): Promise<T | undefined> {
    const r = await this.call<T>('GET', path, {accept: [404]})
    return r.status === 404 ? undefined : r.body
  }

  async write(path: string, body: unknown, method: 'POST' | 'PUT' = 'POST'): Promise<void> {
    await this.call(method, path, {body})
  }

  /**
   * The response bytes, unparsed: for reads that carry secret values, the caller scans the bytes
   * for what it needs and zero-fills the buffer, so values never become JavaScript strings.
   */
  async callRaw(method: string, path: string, options: CallOptions = {}): Promise<{status: number; bytes: Buffer}> {
    const what = `${method} ${path}`
    const url = new URL(`${this.settings.addr}/v1/${path}`)
    for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.set(k, v)
    const headers: Record<string, string> = {'x-vault-request': 'true'}
    if (this.settings.token) headers['x-vault-token'] = this.settings.token
    if (this.settings.namespace) headers['x-vault-namespace'] = this.settings.namespace
    const payload = options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body))
    if (payload !== undefined) headers['content-type'] = 'application/json'

    let lastErr: unknown
    let last: {status: number; bytes: Buffer} | undefined
    const attempts = Math.max(1, this.settings.attempts)
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (attempt > 1) {
        this.stats.retries++
        await sleep(this.delay(attempt, last))
      }
      this.stats.requests++
      this.stats.byMethod[method] = (this.stats.byMethod[method] ?? 0) + 1
      try {
        const res = await this.transport.request({method, url, headers, body: payload, timeoutMs: this.settings.timeoutMs, wipe: options.wipe})
        last = {status: res.status, bytes: res.body}
        lastErr = undefined
        lastRetryAfter.set(last, res.retryAfter === undefined ? undefined : Number(res.retryAfter))
        if (res.status === 503 && /sealed/i.test(res.body.toString('utf8'))) throw baoError.sealed(this.addr)
        if (res.status === 429 || (res.status >= 500 && !options.accept?.includes(res.status))) continue
        break
      } catch (err) {
        // Sealed, or a transport's own verdict (the apiserver's refusal through its service proxy): as it is.
        if (err instanceof CloudtaserError) throw err
        if (isTlsError(err)) throw baoError.tls(this.addr, err)
        if (!isRetryable(err)) throw baoError.unreachable(this.addr, what, err, attempt)
        lastErr = err
        last = undefined
      }
    }
    if (!last) throw baoError.unreachable(this.addr, what, lastErr, attempts)
    const {status, bytes} = last
    if ((status >= 200 && status < 300) || options.accept?.includes(status)) return last
    const detail = errorsOf(safeJson(bytes))
    if (status === 429 || status >= 500) throw baoError.unavailable(what, status, detail, attempts)
    if (status === 403) {
      if (!(await this.isTokenValid())) throw baoError.invalidToken()
      throw baoError.permissionDenied(method, path, capabilityOf(method, options.query))
    }
    throw baoError.request(what, status, detail)
  }

  /** OpenBao answers 403 both for "not allowed" and for a dead token; lookup-self tells them apart. */
  isTokenValid(): Promise<boolean> {
    return (this.tokenValid ??= this.call('GET', 'auth/token/lookup-self', {accept: [403]}).then((r) => r.status === 200))
  }

  private delay(attempt: number, last: {status: number; bytes: Buffer} | undefined): number {
    const retryAfter = last ? lastRetryAfter.get(last) : undefined
    if (retryAfter !== undefined && Number.isFinite(retryAfter)) return Math.min(retryAfter * 1000, 10_000)
    const base = Math.min(this.backoffMs * 2 ** (attempt - 2), 2000)
    return base / 2 + Math.random() * (base / 2)
  }

  async close(): Promise<void> {
    await this.transport.close()
  }
}

const lastRetryAfter = new WeakMap<object, number | undefined>()

function isRetryable(err: unknown): boolean {
  for (let e = err as {code?: string; cause?: unknown} | undefined, i = 0; e && i < 4; i++, e = e.cause as typeof e) {
    if (e.code && RETRYABLE_CODES.has(e.code)) return true
  }
  return false
}

function safeJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'))
  } catch {
    return undefined
  }
}
