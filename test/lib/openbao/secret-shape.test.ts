import t from 'tap'
import {readSecretShape} from '../../../lib/openbao/secret-shape.js'

const CANARY = 'canary-7f3a9c-do-not-print'

t.test('field names and version metadata; values are skipped, not decoded', async (t) => {
  const body = JSON.stringify({
    request_id: 'x',
    data: {
      data: {password: CANARY, 'user.name': `"}{[${CANARY}\\`, nested: {deep: [CANARY, {a: CANARY}]}, n: 3, b: true, z: null},
      metadata: {created_time: '2026-01-01T00:00:00Z', custom_metadata: {owner: 'x'}, deletion_time: '', destroyed: false, version: 4},
    },
    warnings: null,
  })
  const shape = readSecretShape(Buffer.from(body))
  t.same(shape.fields, ['password', 'user.name', 'nested', 'n', 'b', 'z'])
  t.same(shape.metadata, {version: 4, deletion_time: '', destroyed: false, created_time: '2026-01-01T00:00:00Z'})
  t.notOk(JSON.stringify(shape).includes('canary'), 'no value in the result')
})

t.test('a deleted version: data null, metadata kept', async (t) => {
  const body = '{"data":{"data":null,"metadata":{"deletion_time":"2026-11-22T23:44:55Z","destroyed":false,"version":1}}}'
  const shape = readSecretShape(Buffer.from(body))
  t.equal(shape.fields, null)
  t.equal(shape.metadata?.deletion_time, '2026-11-22T23:44:55Z')
})

t.test('unicode escapes in keys; whitespace; empty objects', async (t) => {
  t.same(readSecretShape(Buffer.from('{ "data" : { "data" : { "k\\u00e9y" : "v" } } }')).fields, ['kéy'])
  t.same(readSecretShape(Buffer.from('{"data":{"data":{}}}')).fields, [])
  t.same(readSecretShape(Buffer.from('{"errors":[]}')).fields, null)
})

t.test('truncated input is an error, never a partial answer', async (t) => {
  t.throws(() => readSecretShape(Buffer.from('{"data":{"data":{"a":"unterminated')))
  t.throws(() => readSecretShape(Buffer.from('{"data":{"data":{"a":{"b":1}')))
})
