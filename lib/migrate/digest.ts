import {createHmac, randomBytes, timingSafeEqual} from 'node:crypto'
import type {SecretValues} from '../secret-bytes.js'

/** What the plan records as `copy.digest`: the algorithm only, never a digest or its key. */
export const DIGEST_ALGORITHM = 'hmac-sha256' as const

/**
 * Equality of two sets of values without comparing them as text or keeping anything that
 * could be checked against a guess: an HMAC with a key drawn at random for this run and held
 * only in this object. The digests are compared and dropped; the key dies with the run.
 */
export class RunDigest {
  private readonly key = randomBytes(32)

  /** Over every field, sorted by name: length-prefixed name, length-prefixed value (no ambiguity between fields). */
  ofSecret(values: SecretValues): Buffer {
    const h = createHmac('sha256', this.key)
    const len = Buffer.alloc(8)
    for (const name of values.names) {
      const n = Buffer.from(name, 'utf8')
      len.writeBigUInt64BE(BigInt(n.length))
      h.update(len).update(n)
      const v = values.fields.get(name)!
      len.writeBigUInt64BE(BigInt(v.length))
      h.update(len).update(v)
    }
    return h.digest()
  }

  ofValue(value: Uint8Array): Buffer {
    return createHmac('sha256', this.key).update(value).digest()
  }

  static equal(a: Buffer, b: Buffer): boolean {
    return a.length === b.length && timingSafeEqual(a, b)
  }

  /** Names of fields that differ (by per-field HMAC), that only `a` has, or that only `b` has. Names only. */
  differences(a: SecretValues, b: SecretValues, aName: string, bName: string): string[] {
    const out: string[] = []
    for (const name of a.names) {
      const other = b.fields.get(name)
      if (!other) out.push(`${name} (only in ${aName})`)
      else if (!RunDigest.equal(this.ofValue(a.fields.get(name)!), this.ofValue(other))) out.push(`${name} (differs)`)
    }
    for (const name of b.names) if (!a.fields.has(name)) out.push(`${name} (only in ${bName})`)
    return out
  }

  destroy(): void {
    this.key.fill(0)
  }
}
