// Values as bytes: the JSON and base64 codecs against Node's own (JSON.stringify/parse,
// Buffer's base64) over random inputs, and the reader on the shapes the servers send.
import t from 'tap'
import {randomBytes} from 'node:crypto'
import {base64Decode, base64Encode, escapeJsonInto, escapeJsonLength, isText, JsonReader, SecretValues, unescapeJson} from '../../lib/secret-bytes.js'

/** Random text with what needs escaping: controls, quotes, backslashes, multi-byte and astral characters. */
const randomText = (n: number): string => {
  const pool = ['a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\r', '\t', '\b', '\f', '\u0000', '\u0001', '\u001f', '\u007f', 'é', 'ü', '€', '\u2028', '🔑', '𝄞', '<', '>', '&']
  return Array.from({length: n}, () => pool[Math.floor(Math.random() * pool.length)]).join('')
}

t.test('escape: the bytes between the quotes of JSON.stringify, for any text', async (t) => {
  for (let i = 0; i < 300; i++) {
    const s = randomText(Math.floor(Math.random() * 60))
    const src = Buffer.from(s, 'utf8')
    const out = Buffer.alloc(escapeJsonLength(src))
    t.equal(escapeJsonInto(src, out, 0), out.length)
    t.equal(JSON.parse(`"${out.toString('utf8')}"`), s, 'parses back to the text')
  }
})

t.test('unescape: what JSON.parse gives, as UTF-8 bytes, for any escaping', async (t) => {
  for (let i = 0; i < 300; i++) {
    const s = randomText(Math.floor(Math.random() * 60))
    // As Go escapes (\u003c, \u2028) and as JSON.stringify does, and every UTF-16 unit as \uXXXX (astral ones as surrogate pairs).
    const forms = [JSON.stringify(s), JSON.stringify(s).replace(/[<>&\u2028]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`), `"${s.split('').map((u) => `\\u${u.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}"`]
    // The message names the input in ASCII only: raw U+2028 or half a surrogate pair in a TAP line
    // once broke the stream (the subtest ended after 3 assertions with no failure of its own).
    forms.forEach((f, k) => t.same([...unescapeJson(Buffer.from(f.slice(1, -1)))], [...Buffer.from(s, 'utf8')], `sample ${i}, form ${k}: ${Buffer.from(f).toString('base64').slice(0, 40)}`))
  }
  t.same([...unescapeJson(Buffer.from('\\ud800x'))], [0xef, 0xbf, 0xbd, 0x78], 'a lone surrogate becomes U+FFFD')
  t.throws(() => unescapeJson(Buffer.from('\\x')), /bad escape/)
  t.throws(() => unescapeJson(Buffer.from('\\u12')), /bad escape/)
})

t.test('base64: Buffer\'s encoding, both ways, every length; malformed input refused', async (t) => {
  for (let n = 0; n < 70; n++) {
    const b = randomBytes(n)
    t.equal(base64Encode(b).toString(), b.toString('base64'))
    t.ok(base64Decode(Buffer.from(b.toString('base64')))!.equals(b))
  }
  const big = randomBytes(900 * 1024)
  t.ok(base64Decode(base64Encode(big))!.equals(big), '900 KiB round trip')
  for (const bad of ['abc', 'ab$=', '====', 'a===', 'YQ=\n']) t.equal(base64Decode(Buffer.from(bad)), undefined, `refused: ${JSON.stringify(bad)}`)
})

t.test('isText: UTF-8 or not', async (t) => {
  t.ok(isText(Buffer.from('plain, ünïcødé, 🔑 and \u0000')))
  t.notOk(isText(Buffer.from([0xff, 0xfe, 0x00])))
  t.notOk(isText(Buffer.from([0xe2, 0x82])), 'a truncated sequence')
})

t.test('JsonReader: a Kubernetes Secret, values as Buffers, skipped keys unread', async (t) => {
  const doc = Buffer.from(JSON.stringify({kind: 'Secret', metadata: {name: 'db', annotations: {a: 'b', skip: 'SECRET'}, managedFields: [{f: {'f:data': {}}}]}, data: {k: 'djE=', 'x.y': ''}, type: 'Opaque'}))
  const r = new JsonReader(doc)
  const values = new SecretValues()
  let annotations: unknown
  r.object((k) => {
    if (k === 'metadata') r.object((m) => (m === 'annotations' ? (annotations = r.stringMap((x) => x === 'skip')) : r.skipValue()))
    else if (k === 'data') r.object((f) => values.set(f, r.stringValue()))
    else r.skipValue()
  })
  t.same(annotations, {map: {a: 'b'}, skipped: ['skip']})
  t.same(values.names, ['k', 'x.y'])
  t.equal(values.fields.get('k')!.toString(), 'djE=')
  const kept = values.fields.get('k')!
  values.wipe()
  t.ok(kept.every((b) => b === 0), 'wipe zero-fills')
  t.equal(values.size, 0)
  t.throws(() => new JsonReader(Buffer.from('{"a":')).object(() => new JsonReader(Buffer.from('')).skipValue()), /expected a value|unexpected/)
  t.throws(() => new JsonReader(Buffer.from('{"a":"x')).object(() => undefined), /unterminated|unexpected/)
})
