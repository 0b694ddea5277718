// The encrypted object format (docs/s3-proxy.md, "Format"): a sequence of independently
// authenticated AES-256-GCM segments per part, and a manifest (part numbers and plaintext
// lengths) sealed with the same data key and kept in the object's metadata.
import {createCipheriv, createDecipheriv, createSecretKey, hkdfSync, randomBytes, type DecipherGCM, type KeyObject} from 'node:crypto'
import {CloudtaserError, ExitCode} from '../../lib/errors.js'
import {createPool} from './pool.js'

/** Plaintext bytes per segment. */
export const SEGMENT = 64 * 1024
const NONCE = 12
const TAG = 16
/** Random salt at the start of each part (format 2): the part's segment key is derived from it. */
export const SALT = 16
/**
 * Format 2 (written): a part is salt || segments, a segment is ciphertext || tag, its nonce derived
 * from its index under a key derived from the part's salt. Format 1 (still read): no salt, each
 * segment is a random nonce || ciphertext || tag under the data key itself.
 */
export type Version = 1 | 2
export const VERSION: Version = 2
/** Ciphertext bytes of a full segment (format 2: ciphertext and tag). */
export const SEGMENT_CT = SEGMENT + TAG
const LAYOUTS = {1: {head: 0, nonce: NONCE, magic: Buffer.from('ctsr1')}, 2: {head: SALT, nonce: 0, magic: Buffer.from('ctsr2')}} as const
const layout = (v: Version) => LAYOUTS[v]
const segmentCt = (v: Version) => layout(v).nonce + SEGMENT + TAG

export interface PartLength {
  part: number
  length: number
}

export interface Manifest {
  /** Object format; sealed inside the manifest, so metadata cannot downgrade it. */
  version: Version
  /** Each part's last segment is padded to SEGMENT, so ciphertext sizes reveal lengths only to 64 KiB. */
  padded: boolean
  parts: PartLength[]
}

export const integrityError = (what: string) =>
  new CloudtaserError('S3_INTEGRITY', `the stored ciphertext failed authentication (${what}): it was modified, truncated or reordered`, {
    exitCode: ExitCode.CHECK_FAILED,
  })

export const segmentsOf = (length: number): number => Math.max(1, Math.ceil(length / SEGMENT))

/** Ciphertext bytes of a part with `length` plaintext bytes (its salt included). */
export function partCiphertextSize(length: number, padded: boolean, v: Version = VERSION): number {
  const n = segmentsOf(length)
  const {head, nonce} = layout(v)
  if (padded) return head + n * segmentCt(v)
  return head + (n - 1) * segmentCt(v) + nonce + (length - (n - 1) * SEGMENT) + TAG
}

export const plaintextSize = (m: Manifest): number => m.parts.reduce((s, p) => s + p.length, 0)

function aad(v: Version, part: number, index: number, final: boolean): Buffer {
  const magic = layout(v).magic
  const b = Buffer.alloc(magic.length + 9)
  magic.copy(b)
  b.writeUInt32BE(part, magic.length)
  b.writeUInt32BE(index, magic.length + 4)
  b[magic.length + 8] = final ? 1 : 0
  return b
}

/**
 * The key of one part's segments (format 2): HKDF-SHA256 of the data key with the part's random
 * salt, bound to the part number. Every upload of a part draws a new salt, so a part uploaded
 * again under the same data key (a retry, a replaced part) encrypts under a new key: derived
 * nonces never repeat under one key, as GCM requires (two of n uploads share a salt with
 * probability below n^2 / 2^129).
 */
export function partKey(rawKey: Buffer, salt: Buffer, part: number): KeyObject {
  const info = Buffer.alloc(14)
  info.write('ctsr2 part', 0, 'latin1')
  info.writeUInt32BE(part, 10)
  return createSecretKey(Buffer.from(hkdfSync('sha256', rawKey, salt, info, 32)))
}

/** Format 2 nonce: the segment index (unique within a part, and each part has its own key). */
function derivedNonce(index: number): Buffer {
  const n = Buffer.alloc(NONCE)
  n.writeUInt32BE(index, NONCE - 4)
  return n
}

/**
 * One format-1 segment: a fresh random nonce (stored in front), the part number, the segment index
 * and the final-segment flag bound as associated data. Only the manifest is still sealed this way
 * (once per object, directly under the data key, which segments of format 2 never use).
 */
export function sealSegment(key: Buffer | KeyObject, part: number, index: number, final: boolean, plain: Buffer): Buffer {
  const nonce = randomBytes(NONCE)
  const c = createCipheriv('aes-256-gcm', key, nonce)
  c.setAAD(aad(1, part, index, final))
  const out = Buffer.allocUnsafe(NONCE + plain.length + TAG)
  nonce.copy(out)
  const n = c.update(plain).copy(out, NONCE)
  c.final()
  c.getAuthTag().copy(out, NONCE + n)
  return out
}

export function openSegment(key: Buffer | KeyObject, part: number, index: number, final: boolean, sealed: Buffer): Buffer {
  if (sealed.length < NONCE + TAG) throw integrityError(`part ${part} segment ${index} is short`)
  const d = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, NONCE))
  d.setAAD(aad(1, part, index, final))
  d.setAuthTag(sealed.subarray(sealed.length - TAG))
  const out = d.update(sealed.subarray(NONCE, sealed.length - TAG))
  try {
    d.final()
  } catch {
    throw integrityError(`part ${part} segment ${index}`)
  }
  return out
}

/** Segments per upstream chunk: each chunk is one write (and, signed, one chunk signature on both sides). */
export const GROUP = 16
const ZEROS = Buffer.alloc(SEGMENT)
/** Buffers for the upload chunks sealChunks yields: in flight per request, a few MiB. */
export const chunkPool = createPool(SALT + GROUP * SEGMENT_CT, 16)

/** Ciphertext bytes of each chunk sealChunks yields for a part of `length` plaintext bytes (the first carries the salt). */
export function chunkSizes(length: number, padded: boolean): number[] {
  const n = segmentsOf(length)
  const last = partCiphertextSize(length, padded) - SALT - (n - 1) * SEGMENT_CT
  const sizes: number[] = []
  for (let i = 0; i < n; i += GROUP) {
    const k = Math.min(GROUP, n - i)
    sizes.push((i === 0 ? SALT : 0) + (i + k === n ? (k - 1) * SEGMENT_CT + last : k * SEGMENT_CT))
  }
  return sizes
}

/**
 * Encrypts a part's plaintext stream of known length (format 2) into chunks of GROUP sealed
 * segments, the first chunk starting with the part's fresh salt (flat memory: one chunk at a
 * time). The plaintext goes from the client's buffers straight into the cipher and the ciphertext
 * once into the chunk: no gathering copy of each segment, no concatenation of segments. Chunks
 * come from chunkPool: the consumer gives each back once written.
 */
export async function* sealChunks(rawKey: Buffer, part: number, length: number, padded: boolean, source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const n = segmentsOf(length)
  const sizes = chunkSizes(length, padded)
  let chunk = chunkPool.take().subarray(0, sizes[0]!)
  const salt = randomBytes(SALT)
  let at = salt.copy(chunk)
  const key = partKey(rawKey, salt, part)
  let chunkNo = 0
  let index = 0
  let inSegment = 0
  let seen = 0
  const startSegment = () => {
    const c = createCipheriv('aes-256-gcm', key, derivedNonce(index))
    c.setAAD(aad(2, part, index, index === n - 1))
    return c
  }
  let cipher = startSegment()
  const put = (b: Buffer) => {
    at += b.copy(chunk, at)
  }
  /** Seals the current segment; true when its chunk is complete. */
  const endSegment = (): boolean => {
    put(cipher.final())
    put(cipher.getAuthTag())
    index++
    inSegment = 0
    return at === chunk.length
  }
  for await (const data of source) {
    seen += data.length
    if (seen > length) throw bodyLength(length, seen)
    for (let from = 0; from < data.length; ) {
      const take = Math.min(SEGMENT - inSegment, data.length - from)
      put(cipher.update(data.subarray(from, from + take)))
      inSegment += take
      from += take
      // A full segment that is not the last is sealed at once; the last waits for the stream's end.
      if (inSegment === SEGMENT && index < n - 1) {
        if (endSegment()) {
          yield chunk
          chunk = chunkPool.take().subarray(0, sizes[++chunkNo]!)
          at = 0
        }
        cipher = startSegment()
      }
    }
  }
  if (seen !== length) throw bodyLength(length, seen)
  // Reached only once the source ended without error: its checks (signature, checksum) passed.
  if (padded && inSegment < SEGMENT) put(cipher.update(ZEROS.subarray(0, SEGMENT - inSegment)))
  endSegment()
  if (at !== chunk.length) throw new Error(`part ${part}: the last chunk has ${at} of ${chunk.length} planned bytes`)
  yield chunk
}

const bodyLength = (want: number, got: number) =>
  new CloudtaserError('S3_BODY_LENGTH', `the request body has ${got > want ? 'more than' : 'only'} ${got} bytes; ${want} were declared`, {exitCode: ExitCode.USAGE})

/**
 * What to read, in order: a part's salt (format 2, when the read starts at or before the part's
 * first segment), or a segment, with where its ciphertext is and which plaintext bytes to keep.
 */
export interface SegmentRef {
  version: Version
  /** 'salt': the 16 bytes that key the part's segments (no plaintext). */
  kind: 'salt' | 'segment'
  part: number
  index: number
  final: boolean
  ctOffset: number
  ctLength: number
  /** Real plaintext bytes in the segment (without padding). */
  plainLength: number
  keepFrom: number
  keepTo: number
}

/**
 * The ciphertext covering plaintext bytes [first, last] (inclusive), in order. A part's salt is
 * included when its first segment is; a read starting inside a part needs that part's salt from
 * partSaltAt() first.
 */
export function coveringSegments(m: Manifest, first: number, last: number): SegmentRef[] {
  const out: SegmentRef[] = []
  const v = m.version
  const {head, nonce} = layout(v)
  const ct = segmentCt(v)
  let ptBase = 0
  let ctBase = 0
  for (const p of m.parts) {
    const n = segmentsOf(p.length)
    const partEnd = ptBase + p.length - 1
    if (p.length > 0 && partEnd >= first && ptBase <= last) {
      const from = Math.max(0, Math.floor((first - ptBase) / SEGMENT))
      const to = Math.min(n - 1, Math.floor((last - ptBase) / SEGMENT))
      if (from === 0 && head > 0) {
        out.push({version: v, kind: 'salt', part: p.part, index: -1, final: false, ctOffset: ctBase, ctLength: head, plainLength: 0, keepFrom: 0, keepTo: 0})
      }
      for (let i = from; i <= to; i++) {
        const final = i === n - 1
        const plainLength = final ? p.length - i * SEGMENT : SEGMENT
        const segStart = ptBase + i * SEGMENT
        out.push({
          version: v,
          kind: 'segment',
          part: p.part,
          index: i,
          final,
          ctOffset: ctBase + head + i * ct,
          ctLength: final && !m.padded ? nonce + plainLength + TAG : ct,
          plainLength,
          keepFrom: Math.max(0, first - segStart),
          keepTo: Math.min(plainLength, last - segStart + 1),
        })
      }
    }
    ptBase += p.length
    ctBase += partCiphertextSize(p.length, m.padded, v)
  }
  return out
}

/** Where the salt of the part holding refs[0] is, when the read starts inside that part (format 2). */
export function partSaltAt(m: Manifest, refs: SegmentRef[]): {part: number; ctOffset: number} | undefined {
  const r = refs[0]
  if (!r || r.kind === 'salt' || layout(m.version).head === 0) return undefined
  return {part: r.part, ctOffset: r.ctOffset - layout(m.version).head - r.index * segmentCt(m.version)}
}

/**
 * Decrypts the covering ciphertext of a stream that starts at refs[0].ctOffset, chunk by chunk as
 * it arrives (synchronous: no promise per chunk), passing on only the requested plaintext.
 * Ciphertext goes from the received buffers straight into the decipher; a segment's plaintext is
 * held until its tag is checked, so nothing unauthenticated is passed on. `salts`: parts whose
 * salt was read beforehand.
 */
export class SegmentOpener {
  private readonly dataKey: KeyObject
  private readonly keys = new Map<number, KeyObject>()
  private readonly head = Buffer.allocUnsafe(Math.max(NONCE, SALT))
  private readonly tag = Buffer.allocUnsafe(TAG)
  private held: Buffer[] = []
  private i = 0
  private pos = 0
  private d: DecipherGCM | undefined

  constructor(
    private readonly rawKey: Buffer,
    private readonly refs: SegmentRef[],
    salts: Map<number, Buffer> = new Map(),
  ) {
    this.dataKey = createSecretKey(rawKey)
    for (const [part, salt] of salts) this.keys.set(part, partKey(rawKey, salt, part))
  }

  /** Feeds received ciphertext; `out` gets each authenticated plaintext piece, in order. Throws S3_INTEGRITY. */
  push(chunk: Buffer, out: (plain: Buffer) => void): void {
    const {refs, head, tag} = this
    for (let at = 0; at < chunk.length && this.i < refs.length; ) {
      const r = refs[this.i]!
      const pos = this.pos
      let take: number
      if (r.kind === 'salt') {
        take = chunk.copy(head, pos, at, at + Math.min(r.ctLength - pos, chunk.length - at))
        if (pos + take === r.ctLength) this.keys.set(r.part, partKey(this.rawKey, head.subarray(0, SALT), r.part))
      } else {
        const nonceLength = layout(r.version).nonce
        const bodyEnd = r.ctLength - TAG
        if (pos < nonceLength) take = chunk.copy(head, pos, at, at + Math.min(nonceLength - pos, chunk.length - at))
        else {
          if (!this.d) {
            // Format 1: the nonce just read, under the data key; format 2: derived, under the part's key.
            const key = r.version === 1 ? this.dataKey : this.keys.get(r.part)
            if (!key) throw integrityError(`part ${r.part}: its salt was not read`)
            this.d = createDecipheriv('aes-256-gcm', key, r.version === 1 ? head.subarray(0, NONCE) : derivedNonce(r.index))
            this.d.setAAD(aad(r.version, r.part, r.index, r.final))
          }
          if (pos < bodyEnd) {
            take = Math.min(bodyEnd - pos, chunk.length - at)
            const plain = this.d.update(chunk.subarray(at, at + take))
            if (plain.length) this.held.push(plain)
          } else take = chunk.copy(tag, pos - bodyEnd, at, at + Math.min(r.ctLength - pos, chunk.length - at))
        }
      }
      this.pos += take
      at += take
      if (this.pos < r.ctLength) continue
      this.i++
      this.pos = 0
      if (r.kind === 'salt') continue
      this.d!.setAuthTag(tag)
      try {
        this.d!.final()
      } catch {
        throw integrityError(`part ${r.part} segment ${r.index}`)
      }
      this.d = undefined
      // Keep plaintext bytes [keepFrom, keepTo) of the segment, spread over the held buffers.
      let base = 0
      for (const b of this.held) {
        const from = Math.max(r.keepFrom - base, 0)
        const to = Math.min(r.keepTo - base, b.length)
        if (to > from) out(from === 0 && to === b.length ? b : b.subarray(from, to))
        base += b.length
      }
      this.held = []
    }
  }

  /** The stream ended: an integrity error if it ended before the last covering byte. */
  end(): void {
    const r = this.refs[this.i]
    if (r) throw integrityError(`the object ended inside part ${r.part} ${r.kind === 'salt' ? 'salt' : `segment ${r.index}`}`)
  }
}

/** SegmentOpener over an async stream. */
export async function* openSegments(rawKey: Buffer, refs: SegmentRef[], source: AsyncIterable<Buffer>, salts?: Map<number, Buffer>): AsyncGenerator<Buffer> {
  const opener = new SegmentOpener(rawKey, refs, salts)
  for await (const chunk of source) {
    const out: Buffer[] = []
    opener.push(chunk, (b) => out.push(b))
    yield* out
  }
  opener.end()
}

/** Manifest bytes: format version, flags, then runs of consecutive part numbers with equal lengths. */
function encodeManifest(m: Manifest): Buffer {
  const runs: {first: number; count: number; length: number}[] = []
  for (const p of m.parts) {
    const r = runs.at(-1)
    if (r && r.first + r.count === p.part && r.length === p.length) r.count++
    else runs.push({first: p.part, count: 1, length: p.length})
  }
  const b = Buffer.alloc(4 + runs.length * 16)
  b[0] = m.version
  b[1] = m.padded ? 1 : 0
  b.writeUInt16BE(runs.length, 2)
  runs.forEach((r, i) => {
    b.writeUInt32BE(r.first, 4 + i * 16)
    b.writeUInt32BE(r.count, 8 + i * 16)
    b.writeBigUInt64BE(BigInt(r.length), 12 + i * 16)
  })
  return b
}

function decodeManifest(b: Buffer): Manifest {
  if (b.length < 4 || (b[0] !== 1 && b[0] !== 2)) throw integrityError('manifest format')
  const runs = b.readUInt16BE(2)
  if (b.length !== 4 + runs * 16) throw integrityError('manifest length')
  const parts: PartLength[] = []
  for (let i = 0; i < runs; i++) {
    const first = b.readUInt32BE(4 + i * 16)
    const count = b.readUInt32BE(8 + i * 16)
    const length = Number(b.readBigUInt64BE(12 + i * 16))
    if (count > 10_000) throw integrityError('manifest part count')
    for (let k = 0; k < count; k++) parts.push({part: first + k, length})
  }
  return {version: b[0] as Version, padded: b[1] === 1, parts}
}

/** Part 0 never holds data, so (0, 0) is the manifest's own associated data. */
export const sealManifest = (key: Buffer, m: Manifest): string => sealSegment(key, 0, 0, true, encodeManifest(m)).toString('base64')
export const openManifest = (key: Buffer, sealed: string): Manifest => decodeManifest(openSegment(key, 0, 0, true, Buffer.from(sealed, 'base64')))
