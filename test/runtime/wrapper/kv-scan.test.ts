// The byte-level KV v2 scanner against JSON.parse, and the addon's JSON unescaping (straight into
// secret memory) against what Node's child_process delivers for the same value: the bytes a real
// child process finds in its environment on both paths must be identical.
import t from 'tap'
import {closeSync, openSync, readFileSync, readSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import {scanKvV2} from '../../../runtime/wrapper/kv-scan.js'
import {HeapSecretSet} from '../../../runtime/wrapper/heap-delivery.js'
import {nativeDelivery} from '../../../runtime/wrapper/native-delivery.js'
import {loadNative} from '../../../runtime/wrapper/native/index.js'
import {buildAddon} from './helpers.js'

const kv = (data: unknown, extra = '') => Buffer.from(`{"request_id":"x","lease_duration":0,"data":{"data":${JSON.stringify(data)},"metadata":{"created_time":"t","version":7,"destroyed":false}}${extra},"warnings":null}`)
const valueOf = (b: Buffer, s: {start: number; end: number; isString: boolean}) => (s.isString ? JSON.parse(b.toString('utf8', s.start - 1, s.end + 1)) : JSON.parse(b.toString('utf8', s.start, s.end)))

// Go's encoder (OpenBao) escapes <, >, & and U+2028/9; JSON allows \/ and any \uXXXX.
const tricky: Record<string, string> = {
  plain: 'p@ss w0rd',
  quote: 'say "hi" \\ back',
  controls: 'a\nb\tc\rd\be\ff',
  html: '<script>&amp;</script>',
  latin: 'héllo wörld',
  astral: 'emoji 😀 and 𝄞',
  lineSep: 'x\u2028y\u2029z',
  empty: '',
}
const rawEscaped: Record<string, string> = {
  // Written as JSON text by hand: escapes JSON.stringify would not produce.
  slash: '"a\\/b"',
  uLower: '"\\u00e9\\u00E9"',
  pair: '"\\ud83d\\ude00!"',
  loneHigh: '"x\\ud800y"',
  loneLow: '"x\\udc00y"',
  highThenBmp: '"\\ud83d\\u0041"',
  highAtEnd: '"end\\ud83d"',
}

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

const {path: addon, dir} = buildAddon()
t.teardown(() => rmSync(dir, {recursive: true, force: true}))

t.test('the addon unescapes into secret memory exactly what child_process would deliver', async (t) => {
  const {native, error} = loadNative({CLOUDTASER_NATIVE_ADDON: addon})
  if (!native) throw new Error(error)
  const data: Record<string, unknown> = {...tricky, number: 1.25, flag: false, obj: {k: 'v'}}
  const text = `{"data":{"data":{${[...Object.entries(data).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`), ...Object.entries(rawEscaped).map(([k, v]) => `"${k}":${v}`)].join(',')}},"metadata":{"version":1}}}`
  const b = Buffer.from(text)
  const {fields} = scanKvV2(b)
  const delivery = nativeDelivery(native)
  const set = delivery.newSet(b.length * 2)
  t.equal(set.memory, 'memfd_secret', 'this kernel has memfd_secret (secretmem) enabled')
  const heap = new HeapSecretSet('control')
  for (const [name, span] of fields!) {
    t.equal(set.put(`V_${name}`, b, span), undefined)
    heap.put(`V_${name}`, b, span)
  }
  const out = join(dir, 'env')
  const child = delivery.launch(['/bin/sh', '-c', 'env -0 > "$0"', out], {}, set)
  t.equal(await child.exited, 0)
  const got = new Map(
    readFileSync(out)
      .toString('latin1')
      .split('\0')
      .filter((l) => l.startsWith('V_'))
      .map((l) => [l.slice(0, l.indexOf('=')), Buffer.from(l.slice(l.indexOf('=') + 1), 'latin1')]),
  )
  for (const [name, value] of Object.entries(heap.env)) t.same(got.get(name), Buffer.from(value, 'utf8'), name)
  t.equal(got.size, Object.keys(heap.env).length)
  t.same(got.get('V_loneHigh'), Buffer.from('x\ufffdy'), 'a lone surrogate becomes U+FFFD, as Node encodes it')
  t.same(got.get('V_obj'), Buffer.from('{"k":"v"}'))
})

t.test('a NUL in a value is refused on both paths; the store is wiped after the spawn', async (t) => {
  const {native} = loadNative({CLOUDTASER_NATIVE_ADDON: addon})
  const b = Buffer.from('{"a":"x\\u0000y","b":"ok"}')
  const set = nativeDelivery(native!).newSet(64)
  t.equal(set.put('A', b, {start: 6, end: 14, isString: true}), 'nul')
  t.equal(new HeapSecretSet('control').put('A', b, {start: 6, end: 14, isString: true}), 'nul')
  const child = nativeDelivery(native!).launch(['/bin/true'], {}, set)
  t.equal(await child.exited, 0)
  t.equal((set as unknown as {handle: number}).handle, -1, 'wiped and unmapped once the child exists')
})

t.test('memfd_secret memory is unreadable even through /proc/<pid>/mem, and gone after the wipe', async (t) => {
  const {native} = loadNative({CLOUDTASER_NATIVE_ADDON: addon})
  const secretMaps = () => readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes('/secretmem'))
  const before = secretMaps().length
  const set = nativeDelivery(native!).newSet(16)
  const b = Buffer.from('not-so-secret')
  set.put('X', b, {start: 0, end: b.length, isString: false})
  const added = secretMaps().slice(before)
  t.equal(added.length, 1, 'one /secretmem mapping')
  const from = BigInt(`0x${added[0]!.split('-')[0]}`)
  const fd = openSync('/proc/self/mem', 'r')
  t.throws(() => readSync(fd, Buffer.alloc(16), 0, 16, from), {code: 'EIO'}, 'the kernel refuses even the owner (root) a read')
  closeSync(fd)
  set.wipe()
  t.equal(secretMaps().length, before, 'unmapped')
})
