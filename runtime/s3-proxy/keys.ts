// Data keys: a fresh 256-bit key per object, wrapped by an OpenBao Transit key that never leaves
// OpenBao. Unwrapped keys are cached briefly (by wrapped form) so a ranged read or a HEAD does not
// cost a Transit call each; the cache is bounded and its buffers are zero-filled on eviction.
import {randomBytes} from 'node:crypto'
import type {BaoClient} from '../../lib/openbao/bao-client.js'
import {transitDecrypt, transitEncrypt, transitLatestVersion, type WrappedKey} from '../../lib/openbao/transit.js'
import type {ProxyMetrics} from './metrics.js'

export interface KeyServiceOptions {
  mount: string
  key: string
  cacheSize?: number
  cacheTtlMs?: number
}

export class KeyService {
  private readonly cache = new Map<string, {key: Buffer; until: number}>()
  constructor(
    private readonly client: () => Promise<BaoClient>,
    readonly options: KeyServiceOptions,
    private readonly metrics?: ProxyMetrics,
  ) {}

  private keyCheckedUntil = 0

  async newDataKey(): Promise<{key: Buffer; wrapped: WrappedKey}> {
    // transit/encrypt creates a missing key on the fly: a mistyped key name must be an error instead.
    if (this.keyCheckedUntil < Date.now()) {
      await transitLatestVersion(await this.client(), this.options.mount, this.options.key)
      this.keyCheckedUntil = Date.now() + 60_000
    }
    const key = randomBytes(32)
    const wrapped = await this.timed('encrypt', async () => transitEncrypt(await this.client(), this.options.mount, this.options.key, key))
    this.remember(wrapped.ciphertext, Buffer.from(key))
    return {key, wrapped}
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
  }
}
