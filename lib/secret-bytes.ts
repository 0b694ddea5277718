import {isUtf8} from 'node:buffer'

/**
 * Secret values as bytes, never as JavaScript strings: a string cannot be wiped and lingers in
 * the heap until collected (and may be copied by the engine meanwhile), a Buffer can be
 * zero-filled the moment it is no longer needed. Everything here reads or writes JSON and
 * base64 straight between Buffers, so a value crosses from one server's response to the other
 * server's request without ever being a string. Keys (field names) are not secret and are strings.
 */

/** Field name -> value bytes. `wipe()` zero-fills every value; call it in a `finally`. */
export class SecretValues {
  readonly fields = new Map<string, Buffer>()

  set(name: string, value: Buffer): void {
    this.fields.get(name)?.fill(0)
    this.fields.set(name, value)
  }

  get names(): string[] {
    return [...this.fields.keys()].sort()
  }

  get size(): number {
    let n = 0
    for (const v of this.fields.values()) n += v.length
    return n
  }

  wipe(): void {
    for (const v of this.fields.values()) v.fill(0)
    this.fields.clear()
  }
}

/** Zero-fills every buffer given (undefined ones skipped). */
export const wipe = (...buffers: Array<Uint8Array | undefined>): void => {
  for (const b of buffers) b?.fill(0)
}

/** True when the bytes are UTF-8 text a KV v2 field can hold as a string as they are. */
export const isText = (value: Uint8Array): boolean => isUtf8(value)

const enum C {
  QUOTE = 0x22,
  BACKSLASH = 0x5c,
  LBRACE = 0x7b,
  RBRACE = 0x7d,
  LBRACKET = 0x5b,
  RBRACKET = 0x5d,
  COLON = 0x3a,
  COMMA = 0x2c,
}

export class JsonBytesError extends Error {}

/**
 * A forward-only reader over a JSON document in a buffer. Keys and chosen scalars are decoded
 * as strings (they are names and metadata); string values that may be secret are read with
 * `stringValue()` straight into a Buffer of their own, unescaped.
 */
export class JsonReader {
  pos = 0
  constructor(readonly bytes: Uint8Array) {}

  ws(): void {
    const b = this.bytes
    while (this.pos < b.length && (b[this.pos] === 0x20 || b[this.pos] === 0x0a || b[this.pos] === 0x0d || b[this.pos] === 0x09)) this.pos++
  }

  peek(): number | undefined {
    this.ws()
    return this.bytes[this.pos]
  }

  expect(c: number): void {
    if (this.peek() !== c) throw new JsonBytesError(`unexpected byte at ${this.pos}`)
    this.pos++
  }

  /** Skips a string; returns the span between its quotes. */
  stringSpan(): [number, number] {
    this.expect(C.QUOTE)
    const b = this.bytes
    const start = this.pos
    while (this.pos < b.length && b[this.pos] !== C.QUOTE) this.pos += b[this.pos] === C.BACKSLASH ? 2 : 1
    if (this.pos >= b.length) throw new JsonBytesError('unterminated string')
    this.pos++
    return [start, this.pos - 1]
  }

  /** A string as a JavaScript string: only for keys and values that are not secret. */
  string(): string {
    const [a, b] = this.stringSpan()
    return JSON.parse(Buffer.from(this.bytes.buffer, this.bytes.byteOffset + a - 1, b - a + 2).toString('utf8')) as string
  }

  /** A string value unescaped into a Buffer of its own (the caller wipes it). */
  stringValue(): Buffer {
    const [a, b] = this.stringSpan()
    return unescapeJson(this.bytes.subarray(a, b))
  }

  /** The raw JSON text of the next value (any type), copied into a Buffer of its own. */
  rawValue(): Buffer {
    this.ws()
    const start = this.pos
    this.skipValue()
    return Buffer.from(this.bytes.subarray(start, this.pos))
  }

  skipValue(): void {
    const c = this.peek()
    const b = this.bytes
    if (c === C.QUOTE) return void this.stringSpan()
    if (c === C.LBRACE || c === C.LBRACKET) {
      let depth = 0
      do {
        this.ws()
        const d = b[this.pos]
        if (d === C.QUOTE) this.stringSpan()
        else {
          if (d === C.LBRACE || d === C.LBRACKET) depth++
          else if (d === C.RBRACE || d === C.RBRACKET) depth--
          this.pos++
        }
      } while (depth > 0 && this.pos < b.length)
      if (depth !== 0) throw new JsonBytesError('unterminated container')
      return
    }
    const start = this.pos
    while (this.pos < b.length && ![C.COMMA, C.RBRACE, C.RBRACKET, 0x20, 0x0a, 0x0d, 0x09].includes(b[this.pos]!)) this.pos++
    if (this.pos === start) throw new JsonBytesError(`expected a value at ${start}`)
  }

  /** A scalar (string, number, boolean, null) that is not secret. */
  scalar(): unknown {
    if (this.peek() === C.QUOTE) return this.string()
    const start = this.pos
    this.skipValue()
    return JSON.parse(Buffer.from(this.bytes.subarray(start, this.pos)).toString('utf8'))
  }

  /** Walks an object; `onKey` must consume the value of each key (read it or skipValue()). */
  object(onKey: (key: string) => void): void {
    this.expect(C.LBRACE)
    if (this.peek() === C.RBRACE) return void this.pos++
    for (;;) {
      const key = this.string()
      this.expect(C.COLON)
      onKey(key)
      if (this.peek() === C.COMMA) {
        this.pos++
        continue
      }
      this.expect(C.RBRACE)
      return
    }
  }

  isObject(): boolean {
    return this.peek() === C.LBRACE
  }

  isString(): boolean {
    return this.peek() === C.QUOTE
  }

  /** Walks an object of string -> string that is not secret (labels, annotations), skipping `skip` keys unread. */
  stringMap(skip: (key: string) => boolean = () => false): {map: Record<string, string>; skipped: string[]} {
    const map: Record<string, string> = {}
    const skipped: string[] = []
    this.object((k) => {
      if (skip(k)) {
        skipped.push(k)
        this.skipValue()
      } else map[k] = String(this.scalar())
    })
    return {map, skipped}
  }
}

const hex = (c: number | undefined): number => {
  if (c === undefined) return -1
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  if (c >= 0x61 && c <= 0x66) return c - 0x57
  if (c >= 0x41 && c <= 0x46) return c - 0x37
  return -1
}

/** The inside of a JSON string (between the quotes) unescaped into a new Buffer; a lone surrogate becomes U+FFFD, as in JavaScript's TextEncoder. */
export function unescapeJson(src: Uint8Array): Buffer {
  if (!src.includes(C.BACKSLASH)) return Buffer.from(src)
  // Escapes only shrink: the output is never longer than the input.
  const out = Buffer.allocUnsafeSlow(src.length)
  let o = 0
  const put = (cp: number): void => {
    if (cp < 0x80) out[o++] = cp
    else if (cp < 0x800) {
      out[o++] = 0xc0 | (cp >> 6)
      out[o++] = 0x80 | (cp & 0x3f)
    } else if (cp < 0x10000) {
      out[o++] = 0xe0 | (cp >> 12)
      out[o++] = 0x80 | ((cp >> 6) & 0x3f)
      out[o++] = 0x80 | (cp & 0x3f)
    } else {
      out[o++] = 0xf0 | (cp >> 18)
      out[o++] = 0x80 | ((cp >> 12) & 0x3f)
      out[o++] = 0x80 | ((cp >> 6) & 0x3f)
      out[o++] = 0x80 | (cp & 0x3f)
    }
  }
  const unit = (at: number): number => {
    if (src[at] !== C.BACKSLASH || src[at + 1] !== 0x75) return -1
    const [a, b, c, d] = [hex(src[at + 2]), hex(src[at + 3]), hex(src[at + 4]), hex(src[at + 5])]
    return a < 0 || b < 0 || c < 0 || d < 0 ? -1 : (a << 12) | (b << 8) | (c << 4) | d
  }
  let i = 0
  while (i < src.length) {
    const c = src[i]!
    if (c !== C.BACKSLASH) {
      out[o++] = c
      i++
      continue
    }
    const e = src[i + 1]
    const simple: Record<number, number> = {0x22: 0x22, 0x5c: 0x5c, 0x2f: 0x2f, 0x62: 0x08, 0x66: 0x0c, 0x6e: 0x0a, 0x72: 0x0d, 0x74: 0x09}
    if (e !== undefined && e in simple) {
      out[o++] = simple[e]!
      i += 2
      continue
    }
    const u = unit(i)
    if (u < 0) throw new JsonBytesError(`bad escape at ${i}`)
    i += 6
    if (u >= 0xd800 && u <= 0xdbff) {
      const low = unit(i)
      if (low >= 0xdc00 && low <= 0xdfff) {
        put(0x10000 + ((u - 0xd800) << 10) + (low - 0xdc00))
        i += 6
        continue
      }
      put(0xfffd)
    } else if (u >= 0xdc00 && u <= 0xdfff) put(0xfffd)
    else put(u)
  }
  const result = Buffer.from(out.subarray(0, o))
  out.fill(0)
  return result
}

const SHORT: Record<number, number> = {0x22: 0x22, 0x5c: 0x5c, 0x08: 0x62, 0x0c: 0x66, 0x0a: 0x6e, 0x0d: 0x72, 0x09: 0x74}
const HEX = Buffer.from('0123456789abcdef')

/** Bytes of JSON string content (without quotes) for UTF-8 text: `"`, `\` and control characters escaped. */
export function escapeJsonLength(src: Uint8Array): number {
  let n = 0
  for (const c of src) n += c === 0x22 || c === 0x5c ? 2 : c < 0x20 ? (c in SHORT ? 2 : 6) : 1
  return n
}

/** Writes the escaped content of `src` into `out` at `at`; returns the new offset. */
export function escapeJsonInto(src: Uint8Array, out: Buffer, at: number): number {
  let o = at
  for (const c of src) {
    if (c === 0x22 || c === 0x5c || c < 0x20) {
      out[o++] = 0x5c
      const short = SHORT[c]
      if (short !== undefined) out[o++] = short
      else {
        out[o++] = 0x75
        out[o++] = 0x30
        out[o++] = 0x30
        out[o++] = HEX[c >> 4]!
        out[o++] = HEX[c & 15]!
      }
    } else out[o++] = c
  }
  return o
}

const B64 = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/')
const B64_INDEX = new Int16Array(256).fill(-1)
B64.forEach((c, i) => (B64_INDEX[c] = i))

export const base64Length = (n: number): number => Math.ceil(n / 3) * 4

/** Standard base64 with padding, written into `out` at `at`; returns the new offset. */
export function base64Into(src: Uint8Array, out: Buffer, at: number): number {
  let o = at
  let i = 0
  for (; i + 2 < src.length; i += 3) {
    const v = (src[i]! << 16) | (src[i + 1]! << 8) | src[i + 2]!
    out[o++] = B64[v >> 18]!
    out[o++] = B64[(v >> 12) & 63]!
    out[o++] = B64[(v >> 6) & 63]!
    out[o++] = B64[v & 63]!
  }
  const rest = src.length - i
  if (rest > 0) {
    const v = (src[i]! << 16) | (rest === 2 ? src[i + 1]! << 8 : 0)
    out[o++] = B64[v >> 18]!
    out[o++] = B64[(v >> 12) & 63]!
    out[o++] = rest === 2 ? B64[(v >> 6) & 63]! : 0x3d
    out[o++] = 0x3d
  }
  return o
}

export function base64Encode(src: Uint8Array): Buffer {
  const out = Buffer.allocUnsafeSlow(base64Length(src.length))
  base64Into(src, out, 0)
  return out
}

/** Strict standard base64 (padding required, no whitespace) into a new Buffer; undefined when malformed. */
export function base64Decode(src: Uint8Array): Buffer | undefined {
  if (src.length % 4 !== 0) return undefined
  const pad = src.length === 0 ? 0 : src[src.length - 1] === 0x3d ? (src[src.length - 2] === 0x3d ? 2 : 1) : 0
  const out = Buffer.allocUnsafeSlow((src.length / 4) * 3 - pad)
  let o = 0
  for (let i = 0; i < src.length; i += 4) {
    const last = i + 4 === src.length
    const a = B64_INDEX[src[i]!]!
    const b = B64_INDEX[src[i + 1]!]!
    const c = last && pad >= 2 ? 0 : B64_INDEX[src[i + 2]!]!
    const d = last && pad >= 1 ? 0 : B64_INDEX[src[i + 3]!]!
    if (a < 0 || b < 0 || c < 0 || d < 0) {
      out.fill(0)
      return undefined
    }
    const v = (a << 18) | (b << 12) | (c << 6) | d
    out[o++] = v >> 16
    if (o < out.length) out[o++] = (v >> 8) & 255
    if (o < out.length) out[o++] = v & 255
  }
  return out
}
