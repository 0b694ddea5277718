/**
 * Where a value sits in a response buffer: for a JSON string, the bytes between its quotes
 * (still escaped); for any other JSON value (number, boolean, null, object, array), its text.
 */
export interface Span {
  start: number
  end: number
  isString: boolean
}

export interface KvScan {
  /** `data.data` of a KV v2 read: field name -> span; undefined when absent or null (deleted version). */
  fields: Map<string, Span> | undefined
  /** `data.metadata.version`; 0 when absent. */
  version: number
}

export class KvScanError extends Error {
  override name = 'KvScanError'
}

const QUOTE = 0x22
const BACKSLASH = 0x5c
const WS = new Set([0x20, 0x09, 0x0a, 0x0d])
const MAX_DEPTH = 256

/**
 * A byte-level reader of one KV v2 response (`{"data": {"data": {...}, "metadata": {...}}}`) that
 * validates the whole document as JSON but decodes only keys on the way to `data.data` and
 * `data.metadata.version`: secret values stay bytes in the buffer, located by span, so the
 * native path can copy them into secret memory without them ever becoming JavaScript strings.
 * Duplicate keys: the last one wins, as with JSON.parse.
 */
export function scanKvV2(b: Uint8Array): KvScan {
  let i = 0
  const fail = (what: string): never => {
    throw new KvScanError(`${what} at byte ${i}`)
  }
  const ws = () => {
    while (i < b.length && WS.has(b[i]!)) i++
  }
  const expect = (c: number) => {
    ws()
    if (b[i] !== c) fail(`expected "${String.fromCharCode(c)}"`)
    i++
  }
  // i at the opening quote; returns the span of the contents and leaves i after the closing one.
  const string = (): Span => {
    const start = ++i
    for (;;) {
      if (i >= b.length) fail('unterminated string')
      const c = b[i]!
      if (c === QUOTE) break
      if (c < 0x20) fail('control character in a string')
      if (c === BACKSLASH) {
        const e = b[i + 1]
        if (e === 0x75) {
          for (let k = i + 2; k < i + 6; k++) if (!isHex(b[k])) fail('bad \\u escape')
          i += 6
        } else if (e !== undefined && SIMPLE_ESCAPES.has(e)) i += 2
        else fail('bad escape')
      } else i++
    }
    return {start, end: i++, isString: true}
  }
  const key = (): string => {
    ws()
    if (b[i] !== QUOTE) fail('expected a key')
    const s = string()
    // Keys are names, not values: decoding them as JSON is fine.
    return JSON.parse(Buffer.from(b.buffer, b.byteOffset + s.start - 1, s.end - s.start + 2).toString('utf8')) as string
  }
  // Skips any value; returns its span.
  const value = (depth: number): Span => {
    ws()
    if (depth > MAX_DEPTH) fail('nesting too deep')
    const c = b[i]
    if (c === QUOTE) return string()
    const start = i
    if (c === 0x7b || c === 0x5b) {
      const close = c === 0x7b ? 0x7d : 0x5d
      i++
      ws()
      if (b[i] === close) {
        i++
        return {start, end: i, isString: false}
      }
      for (;;) {
        if (c === 0x7b) {
          key()
          expect(0x3a)
        }
        value(depth + 1)
        ws()
        if (b[i] === 0x2c) {
          i++
          continue
        }
        if (b[i] === close) {
          i++
          return {start, end: i, isString: false}
        }
        fail('expected "," or a closing bracket')
      }
    }
    for (const lit of ['true', 'false', 'null']) {
      if (matches(b, i, lit)) {
        i += lit.length
        return {start, end: i, isString: false}
      }
    }
    number()
    return {start, end: i, isString: false}
  }
  // -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? byte by byte: no window of the buffer (which may
  // hold the next value) is ever turned into a string.
  const digits = (atLeast: number) => {
    let n = 0
    for (; isDigit(b[i]); i++) n++
    if (n < atLeast) fail('bad number')
    return n
  }
  const number = () => {
    if (b[i] === 0x2d) i++
    if (b[i] === 0x30) i++
    else if (isDigit(b[i])) digits(1)
    else fail('unexpected character')
    if (b[i] === 0x2e) {
      i++
      digits(1)
    }
    if (b[i] === 0x65 || b[i] === 0x45) {
      i++
      if (b[i] === 0x2b || b[i] === 0x2d) i++
      digits(1)
    }
  }
  // Calls onKey for each member of the object at i; onKey consumes the member's value.
  const object = (onKey: (k: string) => void) => {
    expect(0x7b)
    ws()
    if (b[i] === 0x7d) {
      i++
      return
    }
    for (;;) {
      const k = key()
      expect(0x3a)
      onKey(k)
      ws()
      if (b[i] === 0x2c) {
        i++
        continue
      }
      if (b[i] === 0x7d) {
        i++
        return
      }
      fail('expected "," or "}"')
    }
  }
  const isObject = () => (ws(), b[i] === 0x7b)

  let fields: Map<string, Span> | undefined
  let version = 0
  object((k) => {
    if (k !== 'data' || !isObject()) return void value(1)
    object((k2) => {
      if (k2 === 'data' && isObject()) {
        fields = new Map()
        object((field) => fields!.set(field, value(3)))
      } else if (k2 === 'metadata' && isObject()) {
        object((k3) => {
          const v = value(3)
          if (k3 === 'version' && !v.isString) {
            const n = Number(Buffer.from(b.buffer, b.byteOffset + v.start, v.end - v.start).toString('latin1'))
            if (Number.isSafeInteger(n)) version = n
          }
        })
      } else {
        if (k2 === 'data') fields = undefined
        value(2)
      }
    })
  })
  ws()
  if (i !== b.length) fail('trailing bytes')
  return {fields, version}
}

const SIMPLE_ESCAPES = new Set([...'"\\/bfnrt'].map((c) => c.charCodeAt(0)))
const isDigit = (c: number | undefined) => c !== undefined && c >= 0x30 && c <= 0x39
const isHex = (c: number | undefined) => c !== undefined && ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66))

function matches(b: Uint8Array, at: number, lit: string): boolean {
  for (let k = 0; k < lit.length; k++) if (b[at + k] !== lit.charCodeAt(k)) return false
  return true
}
