// The byte-level KV v2 scanner against JSON.parse: same fields, same values, clear errors on
// malformed input that never quote a value.
import t from 'tap'
import {scanKvV2} from '../../../runtime/wrapper/kv-scan.js'
import {tricky} from './json-fixtures.js'

const kv = (data: unknown, extra = '') => Buffer.from(`{"request_id":"x","lease_duration":0,"data":{"data":${JSON.stringify(data)},"metadata":{"created_time":"t","version":7,"destroyed":false}}${extra},"warnings":null}`)
const valueOf = (b: Buffer, s: {start: number; end: number; isString: boolean}) => (s.isString ? JSON.parse(b.toString('utf8', s.start - 1, s.end + 1)) : JSON.parse(b.toString('utf8', s.start, s.end)))

t.test('finds every field and the version, like JSON.parse', async (t) => {
  const data = {...tricky, num: 42, neg: -1.5e-3, yes: true, nothing: null, obj: {nested: ['a', {b: 1}]}, arr: [1, 'two']}
  const b = kv(data)
  const s = scanKvV2(b)
  t.equal(s.version, 7)
  t.same([...s.fields!.keys()], Object.keys(data))
  for (const [k, span] of s.fields!) t.same(valueOf(b, span), data[k as keyof typeof data], k)
  t.equal(s.fields!.get('obj')!.isString, false)
  t.equal(b.toString('utf8', s.fields!.get('obj')!.start, s.fields!.get('obj')!.end), '{"nested":["a",{"b":1}]}', 'a non-string value is its JSON text')
})

t.test('whitespace, duplicate keys (last wins), null data, other members skipped', async (t) => {
  const b = Buffer.from(' {\n "data" : { "metadata" : {"version": 3, "custom_metadata": {"data": "x"}} ,\n "data" : { "a" : "1" , "a" : "2" } } , "auth": {"data": {"z": 1}} }\n')
  const s = scanKvV2(b)
  t.equal(s.version, 3)
  t.same([...s.fields!.keys()], ['a'])
  t.equal(valueOf(b, s.fields!.get('a')!), '2')
  t.equal(scanKvV2(Buffer.from('{"data":{"data":null,"metadata":{"version":2,"deletion_time":"t"}}}')).fields, undefined, 'a deleted version')
  t.equal(scanKvV2(Buffer.from('{"errors":[]}')).fields, undefined)
  t.equal(scanKvV2(Buffer.from('{"data":{"data":{}}}')).version, 0)
})

t.test('malformed responses fail with a position, never a value', async (t) => {
  for (const bad of ['', '{', '{"data":{"data":{"a":"unterminated}}}', '{"data":{"data":{"a":"x\\qy"}}}', '{"data":{"data":{"a":"\\u12G4"}}}', '{"a":01}', '{"a":1.}', '{"a":tru}', '{"a":1}x', '{"a":"tab\tin"}', '[1,2]', '{"a" 1}', '{"a":1,}']) {
    t.throws(() => scanKvV2(Buffer.from(bad)), {name: 'KvScanError', message: / at byte \d+$/}, JSON.stringify(bad))
  }
  const deep = Buffer.from(`{"data":{"data":{"a":${'['.repeat(1000)}${']'.repeat(1000)}}}}`)
  t.throws(() => scanKvV2(deep), /nesting too deep/)
  try {
    scanKvV2(Buffer.from('{"data":{"data":{"pw":"s3cret\\x"}}}'))
  } catch (err) {
    t.notMatch((err as Error).message, /s3cret/)
  }
})

t.test('scanning keeps up with JSON.parse on a large response', async (t) => {
  const data = Object.fromEntries(Array.from({length: 2000}, (_, i) => [`field_${i}`, `value-${i}-${'x'.repeat(100)}\u00e9`]))
  const b = kv(data)
  const t0 = performance.now()
  for (let i = 0; i < 20; i++) scanKvV2(b)
  const scanMs = (performance.now() - t0) / 20
  const t1 = performance.now()
  for (let i = 0; i < 20; i++) JSON.parse(b.toString('utf8'))
  const parseMs = (performance.now() - t1) / 20
  t.comment(`${(b.length / 1024).toFixed(0)} KiB response: scan ${scanMs.toFixed(2)} ms, JSON.parse ${parseMs.toFixed(2)} ms`)
  t.ok(scanMs < 50, 'well under the time an OpenBao round trip takes')
})

