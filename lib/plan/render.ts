import jsyaml from 'js-yaml'

/**
 * YAML text of a new plan, byte for byte what js-yaml's dump writes with DUMP_OPTIONS, several
 * times faster. On 10,000 workloads js-yaml spent ~300 ms, most of it choosing a style for each
 * scalar (testing it against every implicit type) and re-concatenating nested blocks. Here the
 * strings plans are made of (names, paths, images: one word of safe characters) are written
 * plain after one check; any other scalar is written by js-yaml itself (see Scalars). What
 * cannot be written that way (a multi-line or very long key; a value that is not JSON) sends
 * the whole document to js-yaml, so the output is always js-yaml's. Every key of every object
 * is written (a value of undefined is skipped, as JSON skips it): nothing is dropped for not
 * being known. test/lib/plan/render.test.ts compares the two on fixtures and random documents.
 */
export const DUMP_OPTIONS: jsyaml.DumpOptions = {schema: jsyaml.CORE_SCHEMA, lineWidth: -1, noRefs: true, noCompatMode: true, indent: 2}

/** The characters that are plain anywhere in a block (after a first letter), ASCII only. */
const PLAIN = new Uint8Array(128)
for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./@:-') PLAIN[c.charCodeAt(0)] = 1
/** The words of that shape the core schema reads as something other than a string. */
const NOT_STRINGS = new Set(['null', 'Null', 'NULL', 'true', 'True', 'TRUE', 'false', 'False', 'FALSE'])
const MAX_IMPLICIT_KEY = 1024

/** One word: a letter, then PLAIN characters, not ending with ':' (a loop: cheaper than a regular expression on short strings). */
function isPlainWord(s: string): boolean {
  const n = s.length
  if (n === 0) return false
  let c = s.charCodeAt(0)
  if (!((c >= 97 && c <= 122) || (c >= 65 && c <= 90))) return false
  for (let i = 1; i < n; i++) {
    c = s.charCodeAt(i)
    if (c > 127 || PLAIN[c] === 0) return false
  }
  return c !== 58 && !((n === 4 || n === 5) && NOT_STRINGS.has(s))
}

/** What only js-yaml can write; the caller falls back to it. */
class Unrenderable extends Error {}

/**
 * js-yaml's text of scalars and keys. A single-line scalar is written alike at any depth, so js-yaml
 * writes it once at the top level; a multi-line string is a literal block (`|`) whose lines
 * js-yaml indents by depth: its top-level text is indented again here for the scalar's depth.
 */
export class Scalars {
  private readonly quoted = new Map<string, string>()
  // A plan repeats a few dozen keys hundreds of thousands of times: check each once.
  private readonly keys = new Map<string, string>()

  /** `level`: the scalar's depth as js-yaml counts it (a mapping's values are one deeper than its keys). */
  text(value: unknown, level = 1): string {
    if (typeof value === 'string') {
      if (isPlainWord(value)) return value
      let text = this.quoted.get(value)
      if (text === undefined) {
        text = jsyaml.dump(value, DUMP_OPTIONS).slice(0, -1)
        // No folding with lineWidth -1: a block is always literal.
        if (text.startsWith('>')) throw new Unrenderable()
        this.quoted.set(value, text)
      }
      return text.startsWith('|') ? indentBlock(text, level) : text
    }
    if (typeof value === 'number' && Number.isSafeInteger(value) && !Object.is(value, -0)) return String(value)
    if (typeof value === 'boolean') return value ? 'true' : 'false'
    if (value === null || typeof value === 'number') return jsyaml.dump(value, DUMP_OPTIONS).slice(0, -1)
    throw new Unrenderable()
  }

  key(key: string): string {
    let k = this.keys.get(key)
    if (k === undefined) {
      k = this.text(key)
      // js-yaml writes a multi-line key double-quoted, a longer one as an explicit "? " pair.
      if (k.startsWith('|') || k.length > MAX_IMPLICIT_KEY) throw new Unrenderable()
      this.keys.set(key, k)
    }
    return k
  }
}

/**
 * A literal block as js-yaml writes it at the top level (its lines indented by 2), indented for
 * `level` instead: 2 spaces per level, at least 2. Empty lines stay empty, as js-yaml leaves them.
 */
function indentBlock(block: string, level: number): string {
  const extra = 2 * Math.max(1, level) - 2
  if (extra === 0) return block
  const header = block.indexOf('\n')
  return block.slice(0, header) + block.slice(header).replace(/\n(?=[^\n])/g, `\n${' '.repeat(extra)}`)
}

const toTag = Object.prototype.toString
const isMap = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && toTag.call(value) === '[object Object]'
const hasEntries = (map: Record<string, unknown>): boolean => {
  for (const k in map) if (Object.hasOwn(map, k) && map[k] !== undefined) return true
  return false
}

/** The YAML as UTF-8 bytes, ready to write. */
export function renderYamlBytes(value: unknown): Buffer {
  try {
    if (!isMap(value) && !Array.isArray(value)) throw new Unrenderable()
    const writer = new YamlWriter(new ByteSink(1 << 20), new Scalars())
    writer.item(value, 0)
    writer.out.put('\n')
    return writer.out.bytes()
  } catch (err) {
    if (err instanceof Unrenderable) return Buffer.from(jsyaml.dump(value, DUMP_OPTIONS), 'utf8')
    throw err
  }
}

export const renderYaml = (value: unknown): string => renderYamlBytes(value).toString('utf8')

/**
 * Bytes are written straight into a growing buffer. Appending to a string instead builds a tree
 * of millions of small pieces that stays alive until the end, and every young-generation
 * collection copies it again (~200 ms of GC on 10,000 workloads).
 */
class ByteSink {
  private buf: Buffer
  private pos = 0

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size)
  }

  put(s: string): void {
    const n = s.length
    if (this.pos + 3 * n > this.buf.length) this.grow(3 * n)
    // Long text in one native call; short pieces (most of them) cost less copied here.
    if (n > 64) {
      this.pos += this.buf.write(s, this.pos, 'utf8')
      return
    }
    const buf = this.buf
    let pos = this.pos
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i)
      if (c > 0x7f) {
        pos += buf.write(s.slice(i), pos, 'utf8')
        break
      }
      buf[pos++] = c
    }
    this.pos = pos
  }

  bytes(): Buffer {
    return this.buf.subarray(0, this.pos)
  }

  private grow(need: number): void {
    const next = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.pos + need))
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }
}

/** js-yaml's block layout (writeBlockMapping / writeBlockSequence with indent 2), level by level. */
class YamlWriter {
  private readonly newline: string[] = []

  constructor(
    readonly out: ByteSink,
    private readonly scalars = new Scalars(),
  ) {}

  private nl(level: number): string {
    return (this.newline[level] ??= `\n${' '.repeat(2 * level)}`)
  }

  /** `compact`: the first entry continues the current line (after "- " or at the top). */
  private mapping(map: Record<string, unknown>, level: number, compact: boolean): void {
    const out = this.out
    let first = compact
    for (const key of Object.keys(map)) {
      const value = map[key]
      if (value === undefined) continue
      if (!first) out.put(this.nl(level))
      first = false
      out.put(this.scalars.key(key))
      if (Array.isArray(value)) {
        if (value.length === 0) out.put(': []')
        else {
          out.put(':')
          this.sequence(value, level + 1, false)
        }
      } else if (isMap(value)) {
        if (hasEntries(value)) {
          out.put(':')
          this.mapping(value, level + 1, false)
        } else out.put(': {}')
      } else {
        out.put(': ')
        out.put(this.scalars.text(value, level + 1))
      }
    }
  }

  private sequence(list: unknown[], level: number, compact: boolean): void {
    for (let i = 0; i < list.length; i++) {
      if (i > 0 || !compact) this.out.put(this.nl(level))
      this.out.put('- ')
      this.item(list[i], level + 1)
    }
  }

  /** A sequence item (or the document) `level` deep. */
  item(value: unknown, level: number): void {
    if (Array.isArray(value)) {
      if (value.length === 0) this.out.put('[]')
      else this.sequence(value, level, true)
    } else if (isMap(value)) {
      if (hasEntries(value)) this.mapping(value, level, true)
      else this.out.put('{}')
    } else this.out.put(this.scalars.text(value === undefined ? null : value, level))
  }
}
