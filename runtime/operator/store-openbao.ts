import {CloudtaserError} from '../../lib/errors.js'
import {baoError} from '../../lib/openbao/errors.js'
import type {BaoSession} from '../../lib/openbao/session.js'
import type {MaterialStore, Observed} from './store.js'

/** The operator's own path, under the prefix `source configure` grants it (docs/operator.md). */
export const SYSTEM_PREFIX = 'cloudtaser/system'
export const WEBHOOK_TLS_PATH = `${SYSTEM_PREFIX}/webhook-tls`

interface KvRead {
  data?: {data?: Record<string, unknown> | null; metadata?: {version?: number; deletion_time?: string; destroyed?: boolean}}
}

/**
 * KV v2 at `<mount>/data/cloudtaser/system/webhook-tls`. Creation and every update use the
 * engine's check-and-set (`options.cas`): cas=0 creates only if nothing is there, so two replicas
 * starting together end with one CA. The version is polled through metadata, which carries no
 * secret bytes. A refused token (403 after expiry or revocation) logs in again once.
 */
export class OpenBaoStore implements MaterialStore {
  readonly kind = 'openbao' as const
  readonly where: string

  constructor(
    private readonly session: BaoSession,
    private readonly mount: string,
    private readonly path: string = WEBHOOK_TLS_PATH,
  ) {
    this.where = `OpenBao ${mount}/${path}`
  }

  private async withClient<T>(fn: (c: Awaited<ReturnType<BaoSession['client']>>) => Promise<T>): Promise<T> {
    try {
      return await fn(await this.session.client())
    } catch (err) {
      if (!(err instanceof CloudtaserError) || err.code !== 'BAO_INVALID_TOKEN') throw err
      this.session.invalidate()
      return fn(await this.session.client())
    }
  }

  async version(): Promise<string | undefined> {
    const meta = await this.withClient((c) => c.read<{data?: {current_version?: number}}>(`${this.mount}/metadata/${this.path}`))
    const v = meta?.data?.current_version
    return v ? String(v) : undefined
  }

  async read(): Promise<Observed> {
    const {status, bytes} = await this.withClient((c) => c.callRaw('GET', `${this.mount}/data/${this.path}`, {accept: [404], wipe: true}))
    try {
      const body = bytes.length ? (JSON.parse(bytes.toString('utf8')) as KvRead) : undefined
      const version = body?.data?.metadata?.version ? String(body.data.metadata.version) : undefined
      const data = status === 200 ? body?.data?.data : undefined
      if (!data) return {version}
      const fields: Record<string, string> = {}
      for (const [k, v] of Object.entries(data)) if (typeof v === 'string') fields[k] = v
      return {version, fields}
    } finally {
      bytes.fill(0)
    }
  }

  async write(fields: Record<string, string>, expected: string | undefined): Promise<string | undefined> {
    const body = Buffer.from(JSON.stringify({options: {cas: Number(expected ?? 0)}, data: fields}))
    try {
      const r = await this.withClient((c) => c.call<{errors?: string[]; data?: {version?: number}}>('POST', `${this.mount}/data/${this.path}`, {rawBody: body, accept: [400]}))
      if (r.status < 300) return r.body?.data?.version ? String(r.body.data.version) : await this.version()
      const detail = (r.body?.errors ?? []).join('; ')
      if (/check-and-set/i.test(detail)) return undefined
      throw baoError.request(`POST ${this.mount}/data/${this.path}`, r.status, detail)
    } finally {
      body.fill(0)
    }
  }

  async close(): Promise<void> {
    await this.session.close()
  }
}
