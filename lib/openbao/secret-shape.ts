/**
 * Reads a KV v2 data response (`GET <mount>/data/<path>`) for its SHAPE only: the field names
 * and the version metadata. It scans the raw bytes and skips over every value under
 * `data.data` without decoding it, so secret values never become JavaScript strings (which could
 * not be wiped and would linger in the heap until collected). The caller zero-fills the buffer.
 */
export interface SecretShape {
  /** Field names of the current version; null when the response had no `data.data` (deleted). */
  fields: string[] | null
  metadata?: {version?: number; deletion_time?: string; destroyed?: boolean; created_time?: string}
}

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

class ShapeError extends Error {}

export function readSecretShape(bytes: Uint8Array): SecretShape {
  let pos = 0
  let fields: string[] | null = null
  let metadata: SecretShape['metadata']

  const ws = () => {
    while (pos < bytes.length && (bytes[pos] === 0x20 || bytes[pos] === 0x0a || bytes[pos] === 0x0d || bytes[pos] === 0x09)) pos++
  }
  const expect = (c: number) => {
    ws()
    if (bytes[pos] !== c) throw new ShapeError(`unexpected byte at ${pos}`)
    pos++
  }
  const skipString = (): [number, number] => {
    expect(C.QUOTE)
    const start = pos
    while (pos < bytes.length && bytes[pos] !== C.QUOTE) pos += bytes[pos] === C.BACKSLASH ? 2 : 1
    if (pos >= bytes.length) throw new ShapeError('unterminated string')
    pos++
    return [start - 1, pos]
  }
  // Only for keys and non-secret values.
  const decodeString = (): string => {
    const [a, b] = skipString()
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + a, b - a).toString('utf8')) as string
  }
  const skipValue = (): void => {
    ws()
    const c = bytes[pos]
    if (c === C.QUOTE) return void skipString()
    if (c === C.LBRACE || c === C.LBRACKET) {
      // Brackets nest; strings may contain brackets, so they are skipped as strings.
      let depth = 0
      do {
        ws()
        const d = bytes[pos]
        if (d === C.QUOTE) skipString()
        else {
          if (d === C.LBRACE || d === C.LBRACKET) depth++
          else if (d === C.RBRACE || d === C.RBRACKET) depth--
          pos++
        }
      } while (depth > 0 && pos < bytes.length)
      if (depth !== 0) throw new ShapeError('unterminated container')
      return
    }
    while (pos < bytes.length && ![C.COMMA, C.RBRACE, C.RBRACKET, 0x20, 0x0a, 0x0d, 0x09].includes(bytes[pos]!)) pos++
  }
  const parseScalar = (): unknown => {
    ws()
    if (bytes[pos] === C.QUOTE) return decodeString()
    const start = pos
    skipValue()
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + start, pos - start).toString('utf8'))
  }
  /** Walks an object; `onKey` consumes the value of each key (or skips it). */
  const walkObject = (onKey: (key: string) => void): void => {
    expect(C.LBRACE)
    ws()
    if (bytes[pos] === C.RBRACE) return void pos++
    for (;;) {
      const key = decodeString()
      expect(C.COLON)
      onKey(key)
      ws()
      if (bytes[pos] === C.COMMA) {
        pos++
        continue
      }
      expect(C.RBRACE)
      return
    }
  }
  const isObjectNext = () => {
    ws()
    return bytes[pos] === C.LBRACE
  }

  walkObject((top) => {
    if (top !== 'data' || !isObjectNext()) return skipValue()
    walkObject((inner) => {
      if (inner === 'data' && isObjectNext()) {
        const names: string[] = []
        walkObject((field) => {
          names.push(field)
          skipValue()
        })
        fields = names
      } else if (inner === 'metadata' && isObjectNext()) {
        const m: Record<string, unknown> = {}
        walkObject((k) => {
          if (isObjectNext() || bytes[pos] === C.LBRACKET) skipValue()
          else m[k] = parseScalar()
        })
        metadata = {
          version: typeof m.version === 'number' ? m.version : undefined,
          deletion_time: typeof m.deletion_time === 'string' ? m.deletion_time : undefined,
          destroyed: typeof m.destroyed === 'boolean' ? m.destroyed : undefined,
          created_time: typeof m.created_time === 'string' ? m.created_time : undefined,
        }
      } else skipValue()
    })
  })
  return {fields, metadata}
}
