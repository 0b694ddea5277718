// The encrypted object format (docs/s3-proxy.md, "Format"): a sequence of independently
// authenticated AES-256-GCM segments per part, and a manifest (part numbers and plaintext
// lengths) sealed with the same data key and kept in the object's metadata.
import {createCipheriv, createDecipheriv, createSecretKey, randomBytes, type DecipherGCM, type KeyObject} from 'node:crypto'
import {CloudtaserError, ExitCode} from '../../lib/errors.js'
import {createPool} from './pool.js'

/** Plaintext bytes per segment. */
export const SEGMENT = 64 * 1024
const NONCE = 12
const TAG = 16
/** Ciphertext bytes of a full segment: nonce, ciphertext, tag. */
export const SEGMENT_CT = NONCE + SEGMENT + TAG
const FORMAT = 1
const AAD_MAGIC = Buffer.from('ctsr1')

export interface PartLength {
  part: number
  length: number
}

export interface Manifest {
  /** Each part's last segment is padded to SEGMENT, so ciphertext sizes reveal lengths only to 64 KiB. */
  padded: boolean
  parts: PartLength[]
}

export const integrityError = (what: string) =>
  new CloudtaserError('S3_INTEGRITY', `the stored ciphertext failed authentication (${what}): it was modified, truncated or reordered`, {
    exitCode: ExitCode.CHECK_FAILED,
  })

export const segmentsOf = (length: number): number => Math.max(1, Math.ceil(length / SEGMENT))

/** Ciphertext bytes of a part with `length` plaintext bytes. */
export function partCiphertextSize(length: number, padded: boolean): number {
  const n = segmentsOf(length)
  if (padded) return n * SEGMENT_CT
  return (n - 1) * SEGMENT_CT + NONCE + (length - (n - 1) * SEGMENT) + TAG
}

export const plaintextSize = (m: Manifest): number => m.parts.reduce((s, p) => s + p.length, 0)
export const ciphertextSize = (m: Manifest): number => m.parts.reduce((s, p) => s + partCiphertextSize(p.length, m.padded), 0)

function aad(part: number, index: number, final: boolean): Buffer {
  const b = Buffer.alloc(AAD_MAGIC.length + 9)
  AAD_MAGIC.copy(b)
  b.writeUInt32BE(part, AAD_MAGIC.length)
  b.writeUInt32BE(index, AAD_MAGIC.length + 4)
  b[AAD_MAGIC.length + 8] = final ? 1 : 0
  return b
}

/**
 * One segment: a fresh random nonce (stored in front), the part number, the segment index and the
 * final-segment flag bound as associated data. Random rather than derived nonces because a
 * multipart part may be uploaded again under the same data key with different bytes.
 */
export function sealSegment(key: Buffer | KeyObject, part: number, index: number, final: boolean, plain: Buffer, padTo?: number): Buffer {
  const nonce = randomBytes(NONCE)
  const c = createCipheriv('aes-256-gcm', key, nonce)
  c.setAAD(aad(part, index, final))
  const body = padTo && plain.length < padTo ? Buffer.concat([plain, Buffer.alloc(padTo - plain.length)]) : plain
  const out = Buffer.allocUnsafe(NONCE + body.length + TAG)
  nonce.copy(out)
  const n = c.update(body).copy(out, NONCE)
  c.final()
  c.getAuthTag().copy(out, NONCE + n)
  return out
}

export function openSegment(key: Buffer | KeyObject, part: number, index: number, final: boolean, sealed: Buffer): Buffer {
  if (sealed.length < NONCE + TAG) throw integrityError(`part ${part} segment ${index} is short`)
  const d = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, NONCE))
  d.setAAD(aad(part, index, final))
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
/** Buffers for chunks (sealChunks) and plaintext batches (GET): in flight per request, a few MiB. */
export const chunkPool = createPool(GROUP * SEGMENT_CT, 16)

/** Ciphertext bytes of each chunk sealChunks yields for a part of `length` plaintext bytes. */
export function chunkSizes(length: number, padded: boolean): number[] {
  const n = segmentsOf(length)
  const last = padded ? SEGMENT_CT : partCiphertextSize(length, false) - (n - 1) * SEGMENT_CT
  const sizes: number[] = []
  for (let i = 0; i < n; i += GROUP) {
    const k = Math.min(GROUP, n - i)
    sizes.push(i + k === n ? (k - 1) * SEGMENT_CT + last : k * SEGMENT_CT)
  }
  return sizes
}

/**
 * Encrypts a part's plaintext stream of known length into chunks of GROUP sealed segments (flat
 * memory: one chunk at a time). The plaintext goes from the client's buffers straight into the
 * cipher and the ciphertext once into the chunk: no gathering copy of each segment, no
 * concatenation of segments. Chunks come from chunkPool: the consumer gives each back once written.
 */
export async function* sealChunks(rawKey: Buffer, part: number, length: number, padded: boolean, source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  // One KeyObject per part: a raw key would be imported again for every segment.
  const key = createSecretKey(rawKey)
  const n = segmentsOf(length)
  const sizes = chunkSizes(length, padded)
  let chunk = chunkPool.take().subarray(0, sizes[0]!)
  let chunkNo = 0
  let at = 0
  let index = 0
  let inSegment = 0
  let seen = 0
  let cipher = startSegment()
  function startSegment() {
    const nonce = randomBytes(NONCE)
    nonce.copy(chunk, at)
    at += NONCE
    const c = createCipheriv('aes-256-gcm', key, nonce)
    c.setAAD(aad(part, index, index === n - 1))
    return c
  }
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

/** A segment to read: where its ciphertext is in the object and which plaintext bytes to keep. */
export interface SegmentRef {
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

/** The segments covering plaintext bytes [first, last] (inclusive), in order. */
export function coveringSegments(m: Manifest, first: number, last: number): SegmentRef[] {
  const out: SegmentRef[] = []
  let ptBase = 0
  let ctBase = 0
  for (const p of m.parts) {
    const n = segmentsOf(p.length)
    const partEnd = ptBase + p.length - 1
    if (p.length > 0 && partEnd >= first && ptBase <= last) {
      const from = Math.max(0, Math.floor((first - ptBase) / SEGMENT))
      const to = Math.min(n - 1, Math.floor((last - ptBase) / SEGMENT))
      for (let i = from; i <= to; i++) {
        const final = i === n - 1
        const plainLength = final ? p.length - i * SEGMENT : SEGMENT
        const segStart = ptBase + i * SEGMENT
        out.push({
          part: p.part,
          index: i,
          final,
          ctOffset: ctBase + i * SEGMENT_CT,
          ctLength: final && !m.padded ? NONCE + plainLength + TAG : SEGMENT_CT,
          plainLength,
          keepFrom: Math.max(0, first - segStart),
          keepTo: Math.min(plainLength, last - segStart + 1),
        })
      }
    }
    ptBase += p.length
    ctBase += partCiphertextSize(p.length, m.padded)
  }
  return out
}

/**
 * Decrypts the covering segments from the ciphertext stream that starts at refs[0].ctOffset,
 * yielding only the requested plaintext. Ciphertext goes from the received buffers straight into
 * the decipher; a segment's plaintext is held until its tag is checked, so nothing unauthenticated
 * is yielded. A short stream is an integrity error.
 */
export async function* openSegments(rawKey: Buffer, refs: SegmentRef[], source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const key = createSecretKey(rawKey)
  const nonce = Buffer.allocUnsafe(NONCE)
  const tag = Buffer.allocUnsafe(TAG)
  let held: Buffer[] = []
  let i = 0
  let pos = 0
  let d: DecipherGCM | undefined
  for await (const chunk of source) {
    for (let at = 0; at < chunk.length && i < refs.length; ) {
      const r = refs[i]!
      const bodyEnd = r.ctLength - TAG
      let take: number
      if (pos < NONCE) {
        take = chunk.copy(nonce, pos, at, at + Math.min(NONCE - pos, chunk.length - at))
        if (pos + take === NONCE) {
          d = createDecipheriv('aes-256-gcm', key, nonce)
          d.setAAD(aad(r.part, r.index, r.final))
        }
      } else if (pos < bodyEnd) {
        take = Math.min(bodyEnd - pos, chunk.length - at)
        const out = d!.update(chunk.subarray(at, at + take))
        if (out.length) held.push(out)
      } else take = chunk.copy(tag, pos - bodyEnd, at, at + Math.min(r.ctLength - pos, chunk.length - at))
      pos += take
      at += take
      if (pos === r.ctLength) {
        d!.setAuthTag(tag)
        try {
          d!.final()
        } catch {
          throw integrityError(`part ${r.part} segment ${r.index}`)
        }
        i++
        pos = 0
        // Keep plaintext bytes [keepFrom, keepTo) of the segment, spread over the held buffers.
        let base = 0
        for (const b of held) {
          const from = Math.max(r.keepFrom - base, 0)
          const to = Math.min(r.keepTo - base, b.length)
          if (to > from) yield from === 0 && to === b.length ? b : b.subarray(from, to)
          base += b.length
        }
        held = []
      }
    }
  }
  if (i < refs.length) throw integrityError(`the object ended inside part ${refs[i]!.part} segment ${refs[i]!.index}`)
}

/** Manifest bytes: format, flags, then runs of consecutive part numbers with equal lengths. */
function encodeManifest(m: Manifest): Buffer {
  const runs: {first: number; count: number; length: number}[] = []
  for (const p of m.parts) {
    const r = runs.at(-1)
    if (r && r.first + r.count === p.part && r.length === p.length) r.count++
    else runs.push({first: p.part, count: 1, length: p.length})
  }
  const b = Buffer.alloc(4 + runs.length * 16)
  b[0] = FORMAT
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
  if (b.length < 4 || b[0] !== FORMAT) throw integrityError('manifest format')
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
  return {padded: b[1] === 1, parts}
}

/** Part 0 never holds data, so (0, 0) is the manifest's own associated data. */
export const sealManifest = (key: Buffer, m: Manifest): string => sealSegment(key, 0, 0, true, encodeManifest(m)).toString('base64')
export const openManifest = (key: Buffer, sealed: string): Manifest => decodeManifest(openSegment(key, 0, 0, true, Buffer.from(sealed, 'base64')))
