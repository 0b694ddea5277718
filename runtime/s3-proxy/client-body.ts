// The client's request body as plaintext chunks, checked while it streams: the signed payload
// hash, aws-chunked chunk and trailer signatures, Content-MD5 and x-amz-checksum-*. A failed
// check throws at the end of the stream, before the encryptor emits the final segment, so the
// upstream request is aborted and nothing is stored.
import {createHash, type Hash} from 'node:crypto'
import {crc32} from 'node:zlib'
import {s3Error} from './s3-errors.js'
import {
  chunkSignature,
  EMPTY_SHA256,
  STREAMING_SIGNED,
  STREAMING_SIGNED_TRAILER,
  STREAMING_UNSIGNED_TRAILER,
  sha256hex,
  trailerSignature,
  UNSIGNED,
  type VerifiedAuth,
} from './sigv4.js'

type Headers = Record<string, string | string[] | undefined>

/** Checksums the proxy verifies over plaintext; CRC32C and CRC64NVME have no fast Node implementation here. */
const CHECKSUMS = ['crc32', 'sha1', 'sha256'] as const
type ChecksumAlg = (typeof CHECKSUMS)[number]

class Checksum {
  private crc = 0
  private hash?: Hash
  constructor(readonly alg: ChecksumAlg) {
    if (alg !== 'crc32') this.hash = createHash(alg)
  }
  update(b: Buffer): void {
    if (this.hash) this.hash.update(b)
    else this.crc = crc32(b, this.crc)
  }
  digestBase64(): string {
    if (this.hash) return this.hash.digest('base64')
    const b = Buffer.alloc(4)
    b.writeUInt32BE(this.crc >>> 0)
    return b.toString('base64')
  }
}

export interface BodyPlan {
  /** Plaintext bytes the body will carry. */
  length: number
  /** The checksum header to echo back to the client once verified, if any. */
  checksum?: {alg: ChecksumAlg; value?: string}
  chunked: boolean
}

const header = (h: Headers, name: string): string | undefined => {
  const v = h[name]
  return Array.isArray(v) ? v.join(',') : v
}

/** What the headers promise about the body; refuses what the proxy cannot verify. */
export function planBody(h: Headers, auth: VerifiedAuth): BodyPlan {
  const chunked = [STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER].includes(auth.payloadHash)
  const raw = chunked ? header(h, 'x-amz-decoded-content-length') : header(h, 'content-length')
  if (raw === undefined || !/^\d+$/.test(raw)) {
    throw s3Error('MissingContentLength', chunked ? 'x-amz-decoded-content-length is required for aws-chunked uploads' : 'Content-Length is required', 411)
  }
  let checksum: BodyPlan['checksum']
  const trailer = header(h, 'x-amz-trailer')?.trim().toLowerCase()
  for (const alg of ['crc32', 'crc32c', 'crc64nvme', 'sha1', 'sha256']) {
    const name = `x-amz-checksum-${alg}`
    if (header(h, name) === undefined && trailer !== name) continue
    if (!(CHECKSUMS as readonly string[]).includes(alg)) {
      throw s3Error('InvalidRequest', `the proxy verifies CRC32, SHA1 and SHA256 checksums; ${alg.toUpperCase()} is not supported (configure the client's checksum algorithm)`)
    }
    checksum = {alg: alg as ChecksumAlg, value: header(h, name)}
  }
  if (trailer && !trailer.startsWith('x-amz-checksum-')) throw s3Error('InvalidRequest', `trailer ${trailer} is not supported`)
  return {length: Number(raw), checksum, chunked}
}

/**
 * Byte-level reader over a stream: lines for aws-chunked framing, exact-length runs for data.
 */
class Reader {
  private buf: Buffer = Buffer.alloc(0)
  private readonly it: AsyncIterator<Buffer>
  private done = false
  constructor(source: AsyncIterable<Buffer>) {
    this.it = source[Symbol.asyncIterator]()
  }
  private async more(): Promise<boolean> {
    if (this.done) return false
    const r = await this.it.next()
    if (r.done) {
      this.done = true
      return false
    }
    this.buf = this.buf.length ? Buffer.concat([this.buf, r.value]) : r.value
    return true
  }
  async line(max = 4096): Promise<string | undefined> {
    for (;;) {
      const at = this.buf.indexOf('\r\n')
      if (at >= 0) {
        const s = this.buf.subarray(0, at).toString('latin1')
        this.buf = this.buf.subarray(at + 2)
        return s
      }
      if (this.buf.length > max) throw s3Error('InvalidRequest', 'an aws-chunked framing line is too long')
      if (!(await this.more())) return this.buf.length ? this.buf.toString('latin1') : undefined
    }
  }
  /** Up to n bytes as they arrive (never more than n). */
  async *exact(n: number): AsyncGenerator<Buffer> {
    while (n > 0) {
      if (this.buf.length === 0 && !(await this.more())) throw s3Error('IncompleteBody', 'the request body ended early')
      const take = Math.min(n, this.buf.length)
      yield this.buf.subarray(0, take)
      this.buf = this.buf.subarray(take)
      n -= take
    }
  }
  async *rest(): AsyncGenerator<Buffer> {
    if (this.buf.length) yield this.buf
    this.buf = Buffer.alloc(0)
    while (await this.more()) {
      yield this.buf
      this.buf = Buffer.alloc(0)
    }
  }
}

/** The plaintext body; every check runs before the generator returns. */
export async function* clientBody(source: AsyncIterable<Buffer>, h: Headers, auth: VerifiedAuth, plan: BodyPlan): AsyncGenerator<Buffer> {
  const md5Header = header(h, 'content-md5')
  const md5 = md5Header ? createHash('md5') : undefined
  const sum = plan.checksum ? new Checksum(plan.checksum.alg) : undefined
  const see = (b: Buffer) => {
    md5?.update(b)
    sum?.update(b)
  }
  let trailers: Record<string, string> = {}
  if (!plan.chunked) {
    const hash = auth.payloadHash === UNSIGNED ? undefined : createHash('sha256')
    for await (const b of new Reader(source).rest()) {
      hash?.update(b)
      see(b)
      yield b
    }
    if (hash && hash.digest('hex') !== auth.payloadHash) throw s3Error('XAmzContentSHA256Mismatch', 'the body does not match x-amz-content-sha256')
  } else {
    const signed = auth.payloadHash !== STREAMING_UNSIGNED_TRAILER
    const r = new Reader(source)
    let previous = auth.seedSignature
    const held: Buffer[] = []
    for (;;) {
      const line = await r.line()
      if (line === undefined) throw s3Error('IncompleteBody', 'the aws-chunked body ended before its last chunk')
      const m = /^([0-9a-fA-F]+)(?:;chunk-signature=([0-9a-f]{64}))?$/.exec(line)
      if (!m) throw s3Error('InvalidRequest', 'malformed aws-chunked chunk header')
      const size = parseInt(m[1]!, 16)
      if (signed && !m[2]) throw s3Error('SignatureDoesNotMatch', 'an aws-chunked chunk has no signature')
      const hash = signed ? createHash('sha256') : undefined
      for await (const b of r.exact(size)) {
        hash?.update(b)
        see(b)
        if (signed) {
          // Held back until the chunk's signature is checked below.
          held.push(b)
        } else yield b
      }
      if (signed) {
        const expect = chunkSignature(auth, previous, size === 0 ? EMPTY_SHA256 : hash!.digest('hex'))
        if (expect !== m[2]) throw s3Error('SignatureDoesNotMatch', 'an aws-chunked chunk signature does not match')
        previous = expect
        for (const b of held.splice(0)) yield b
      }
      if (size === 0) break
      if ((await r.line()) !== '') throw s3Error('InvalidRequest', 'malformed aws-chunked chunk end')
    }
    trailers = await readTrailers(r, auth, previous)
  }
  if (md5Header && md5!.digest('base64') !== md5Header) throw s3Error('BadDigest', 'the Content-MD5 you specified did not match what we received')
  if (sum) {
    const want = plan.checksum!.value ?? trailers[`x-amz-checksum-${plan.checksum!.alg}`]
    const got = sum.digestBase64()
    if (!want) throw s3Error('InvalidRequest', `the x-amz-checksum-${plan.checksum!.alg} trailer is missing`)
    if (want !== got) throw s3Error('BadDigest', `the ${plan.checksum!.alg.toUpperCase()} you specified did not match the calculated checksum`)
    plan.checksum!.value = got
  }
}

async function readTrailers(r: Reader, auth: VerifiedAuth, previous: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  let canonical = ''
  let signature: string | undefined
  for (;;) {
    const line = await r.line()
    if (line === undefined || line === '') break
    const at = line.indexOf(':')
    if (at < 0) throw s3Error('InvalidRequest', 'malformed aws-chunked trailer')
    const name = line.slice(0, at).trim().toLowerCase()
    const value = line.slice(at + 1).trim()
    if (name === 'x-amz-trailer-signature') signature = value
    else {
      out[name] = value
      canonical += `${name}:${value}\n`
    }
  }
  if (auth.payloadHash === STREAMING_SIGNED_TRAILER && Object.keys(out).length > 0) {
    if (signature !== trailerSignature(auth, previous, sha256hex(canonical))) throw s3Error('SignatureDoesNotMatch', 'the trailer signature does not match')
  }
  return out
}
