import t from 'tap'
import {createHash} from 'node:crypto'
import {initInfoHash, operationalInfoHash} from '../../../lib/infohash.js'
import {
  encodeHello,
  encodeStatus,
  HELLO_FIXED_BYTES,
  MAGIC,
  parseHello,
  Status,
  statusName,
} from '../../../runtime/beacon/protocol.js'

const h = Buffer.alloc(32, 0xab)

t.test('hello layout is the documented one', async (t) => {
  const b = encodeHello('broker', h)
  t.equal(b.length, HELLO_FIXED_BYTES)
  t.same([...b.subarray(0, 8)], [0x43, 0x54, 0x42, 0x4e, 1, 2, 0, 0])
  t.same(b.subarray(8), h)
  const x = encodeHello('bridge', h, Buffer.from([9, 9, 9]))
  t.equal(x.readUInt16BE(6), 3)
  t.equal(x[5], 1)
  t.throws(() => encodeHello('bridge', Buffer.alloc(31)), RangeError)
  t.throws(() => encodeHello('bridge', h, Buffer.alloc(0x10000)), RangeError)
})

t.test('parseHello decodes, byte by byte and whole', async (t) => {
  const b = encodeHello('bridge', h, Buffer.from('ext'))
  for (let i = 0; i < b.length; i++) t.equal(parseHello(b.subarray(0, i), 256).kind, 'more', `prefix ${i}`)
  const r = parseHello(b, 256)
  t.equal(r.kind, 'hello')
  if (r.kind !== 'hello') return
  t.equal(r.hello.role, 'bridge')
  t.same(r.hello.infoHash, h)
  t.equal(r.hello.extensions.toString(), 'ext')
  t.equal(r.rest.length, 0)
  const more = parseHello(Buffer.concat([b, Buffer.from('xy')]), 256)
  t.equal(more.kind === 'hello' && more.rest.toString(), 'xy')
})

t.test('parseHello rejects as early as possible', async (t) => {
  const reason = (b: Buffer, max = 256): string => {
    const r = parseHello(b, max)
    return r.kind === 'error' ? `${r.reason}:${statusName(r.status)}` : r.kind
  }
  t.equal(reason(Buffer.from('G')), 'bad_magic:BAD_MAGIC', 'first byte decides')
  t.equal(reason(Buffer.from('GET / HTTP/1.1\r\n')), 'bad_magic:BAD_MAGIC')
  t.equal(reason(Buffer.from([0x16, 3, 1])), 'bad_magic:BAD_MAGIC', 'a TLS ClientHello on the plain port')
  t.equal(reason(Buffer.concat([MAGIC, Buffer.from([2])])), 'unsupported_version:UNSUPPORTED_VERSION')
  t.equal(reason(Buffer.concat([MAGIC, Buffer.from([0])])), 'unsupported_version:UNSUPPORTED_VERSION')
  t.equal(reason(Buffer.concat([MAGIC, Buffer.from([1, 3])])), 'bad_role:BAD_ROLE')
  t.equal(reason(Buffer.concat([MAGIC, Buffer.from([1, 0])])), 'bad_role:BAD_ROLE')
  t.equal(reason(Buffer.concat([MAGIC, Buffer.from([1, 1, 0, 217])])), 'hello_too_large:HELLO_TOO_LARGE', '40 + 217 > 256')
  t.equal(reason(Buffer.concat([MAGIC, Buffer.from([1, 1, 0, 216])])), 'more', '40 + 216 = 256 is allowed')
  t.equal(reason(encodeHello('bridge', h), 39), 'hello_too_large:HELLO_TOO_LARGE')
})

t.test('status frames and names', async (t) => {
  t.same([...encodeStatus(Status.PAIRED)], [1, 0])
  t.same([...encodeStatus(Status.MATCH_TIMEOUT)], [1, 0x20])
  t.equal(statusName(0x23), 'SHUTTING_DOWN')
  t.equal(statusName(0x7f), 'UNKNOWN_0x7f')
})

t.test('info hashes', async (t) => {
  const fp = '0ad50c05-1153-4508-9237-4cb2912e2c23'
  t.same(initInfoHash(fp), createHash('sha256').update(`cloudtaser-init:${fp}`).digest())
  t.equal(operationalInfoHash(Buffer.from('der')).length, 32)
})
