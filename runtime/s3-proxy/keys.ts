// Data keys: a fresh 256-bit key per object, wrapped by an OpenBao Transit key that never leaves
// OpenBao. Keys for new objects are wrapped ahead of need, a batch per Transit call, so a PUT does
// not wait for a round trip to OpenBao (one per 8 MiB object cost 10-30 % of its throughput); a
// pooled key not used within POOL_TTL_MS is zero-filled and dropped, so an idle proxy holds none.
// Unwrapped keys are cached briefly (by wrapped form) so a ranged read or a HEAD does not cost a
// Transit call each; the cache is bounded and its buffers are zero-filled on eviction.
import {randomBytes} from 'node:crypto'
import type {BaoClient} from '../../lib/openbao/bao-client.js'
import {transitDecrypt, transitEncrypt, transitLatestVersion, type WrappedKey} from '../../lib/openbao/transit.js'
import type {ProxyMetrics} from './metrics.js'

export interface KeyServiceOptions {
  mount: string
  key: string
  cacheSize?: number
  cacheTtlMs?: number
  /** Keys wrapped per Transit call (1: no pool, a call per object). */
  poolBatch?: number
  poolTtlMs?: number
}

/** Unused wrapped keys live this long: after a Transit key rotation, new objects take the new version within it. */
export const POOL_TTL_MS = 30_000
const POOL_BATCH = 16

interface Pooled {
  key: Buffer
  wrapped: WrappedKey
  until: number
}

export class KeyService {
  private readonly cache = new Map<string, {key: Buffer; until: number}>()
  private pool: Pooled[] = []
  private refilling: Promise<void> | undefined
  constructor(
    private readonly client: () => Promise<BaoClient>,
    readonly options: KeyServiceOptions,
    private readonly metrics?: ProxyMetrics,
  ) {}

  private keyCheckedUntil = 0

  async newDataKey(): Promise<{key: Buffer; wrapped: WrappedKey}> {
    this.dropExpired()
    let next = this.pool.shift()
    // Concurrent PUTs share one refill; whoever finds the pool empty again waits for the next.
    while (!next) {
      await this.refill()
      next = this.pool.shift()
    }
    // Ahead of need: the next PUTs find keys ready. A failure here is reported by the PUT that waits for a refill.
    if (this.pool.length <= this.batch() / 4) this.refill().catch(() => {})
    this.remember(next.wrapped.ciphertext, Buffer.from(next.key))
    return {key: next.key, wrapped: next.wrapped}
  }

  private batch(): number {
    return this.options.poolBatch ?? POOL_BATCH
  }

  private refill(): Promise<void> {
    this.refilling ??= this.wrapBatch().finally(() => (this.refilling = undefined))
    return this.refilling
  }

  private async wrapBatch(): Promise<void> {
    const client = await this.client()
    // transit/encrypt creates a missing key on the fly: a mistyped key name must be an error instead.
    if (this.keyCheckedUntil < Date.now()) {
      await transitLatestVersion(client, this.options.mount, this.options.key)
      this.keyCheckedUntil = Date.now() + 60_000
    }
    const keys = Array.from({length: this.batch()}, () => randomBytes(32))
    let wrapped: WrappedKey[]
    try {
      wrapped = await this.timed('encrypt', async () => transitEncrypt(client, this.options.mount, this.options.key, keys))
    } catch (err) {
      for (const k of keys) k.fill(0)
      throw err
    }
    const ttl = this.options.poolTtlMs ?? POOL_TTL_MS
    const until = Date.now() + ttl
    this.pool.push(...keys.map((key, i) => ({key, wrapped: wrapped[i]!, until})))
    setTimeout(() => this.dropExpired(), ttl + 1).unref()
  }

  private dropExpired(): void {
    const now = Date.now()
    while (this.pool[0] && this.pool[0].until <= now) this.pool.shift()!.key.fill(0)
  }

  /** The key name comes from the object's metadata: objects written under an older key name still open. */
  async unwrap(keyName: string, ciphertext: string): Promise<Buffer> {
    const hit = this.cache.get(ciphertext)
    if (hit && hit.until > Date.now()) {
      this.cache.delete(ciphertext)
      this.cache.set(ciphertext, hit)
      return hit.key
    }
    const key = await this.timed('decrypt', async () => transitDecrypt(await this.client(), this.options.mount, keyName, ciphertext))
    this.remember(ciphertext, key)
    return key
  }

  private remember(ciphertext: string, key: Buffer): void {
    const max = this.options.cacheSize ?? 1024
    this.cache.set(ciphertext, {key, until: Date.now() + (this.options.cacheTtlMs ?? 300_000)})
    while (this.cache.size > max) {
      const [oldest, v] = this.cache.entries().next().value as [string, {key: Buffer}]
      this.cache.delete(oldest)
      v.key.fill(0)
    }
  }

  private async timed<T>(op: 'encrypt' | 'decrypt', f: () => Promise<T>): Promise<T> {
    try {
      const r = await f()
      this.metrics?.transit(op, 'ok')
      return r
    } catch (err) {
      this.metrics?.transit(op, 'error')
      throw err
    }
  }

  clear(): void {
    for (const v of this.cache.values()) v.key.fill(0)
    this.cache.clear()
    for (const p of this.pool) p.key.fill(0)
    this.pool = []
  }
}
