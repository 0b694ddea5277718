// Data keys for new objects come from a pool wrapped a batch per Transit call (runtime/s3-proxy/
// keys.ts), against a real OpenBao; and over HTTP the upstream body is signed exactly when the
// client signed its own (`--upstream-payload auto`), seen by a tap in front of a real versitygw.
import t from 'tap'
import {connect, createServer, type AddressInfo, type Socket} from 'node:net'
import {Readable} from 'node:stream'
import {CreateBucketCommand, GetObjectCommand, PutObjectCommand} from '@aws-sdk/client-s3'
import {transitDecrypt} from '../../../lib/openbao/transit.js'
import {KeyService} from '../../../runtime/s3-proxy/keys.js'
import {ProxyMetrics} from '../../../runtime/s3-proxy/metrics.js'
import {startStack, TRANSIT_KEY} from './fixture.js'

const stack = await startStack()
t.teardown(() => stack.stop())

const encryptCalls = (m: ProxyMetrics) => Number(/cloudtaser_s3_proxy_transit_calls_total\{op="encrypt",result="ok"\} (\d+)/.exec(m.render())?.[1] ?? 0)

t.test('a batch of keys per Transit call; every key distinct and unwrapping to itself', async (t) => {
  const metrics = new ProxyMetrics()
  const keys = new KeyService(async () => stack.root, {mount: 'transit', key: TRANSIT_KEY, poolBatch: 8}, metrics)
  t.teardown(() => keys.clear())
  // Concurrent PUTs share the refill, then more come one by one.
  const got = await Promise.all(Array.from({length: 12}, () => keys.newDataKey()))
  for (let i = 0; i < 12; i++) got.push(await keys.newDataKey())
  t.equal(new Set(got.map((k) => k.key.toString('hex'))).size, 24, '24 distinct data keys')
  t.equal(new Set(got.map((k) => k.wrapped.ciphertext)).size, 24, '24 distinct wrapped forms')
  t.ok(encryptCalls(metrics) >= 3 && encryptCalls(metrics) <= 5, `3-5 Transit calls for 24 keys in batches of 8 (${encryptCalls(metrics)})`)
  for (const k of [got[0]!, got[13]!, got[23]!]) t.same(await transitDecrypt(stack.root, 'transit', TRANSIT_KEY, k.wrapped.ciphertext), k.key, 'OpenBao unwraps it to the key handed out')
})

t.test('unused pooled keys expire and are zero-filled; the next PUT wraps a new batch', async (t) => {
  const metrics = new ProxyMetrics()
  const keys = new KeyService(async () => stack.root, {mount: 'transit', key: TRANSIT_KEY, poolBatch: 4, poolTtlMs: 300}, metrics)
  t.teardown(() => keys.clear())
  await keys.newDataKey()
  // The pool is private: what is left in it is looked at through a cast, to prove the wipe.
  const pooled = (keys as unknown as {pool: {key: Buffer}[]}).pool.map((p) => p.key)
  t.equal(pooled.length, 3, 'three keys wait in the pool')
  t.ok(pooled.every((k) => k.some((b) => b !== 0)), 'they are real keys')
  await new Promise((r) => setTimeout(r, 400))
  t.ok(pooled.every((k) => k.every((b) => b === 0)), 'after the TTL they are zero-filled, with no PUT to trigger it')
  t.equal((keys as unknown as {pool: unknown[]}).pool.length, 0, 'and dropped')
  await keys.newDataKey()
  t.equal(encryptCalls(metrics), 2, 'the next PUT wrapped a new batch')
})

t.test('a refill that fails in the background is reported by the PUT that needs it; no plaintext key is handed out', async (t) => {
  let calls = 0
  const keys = new KeyService(
    async () => {
      if (++calls > 1) throw new Error('OpenBao is unreachable')
      return stack.root
    },
    {mount: 'transit', key: TRANSIT_KEY, poolBatch: 4},
  )
  t.teardown(() => keys.clear())
  for (let i = 0; i < 4; i++) await keys.newDataKey()
  await t.rejects(keys.newDataKey(), /OpenBao is unreachable/, 'the pool is empty and OpenBao down: the PUT fails')
  const missing = new KeyService(async () => stack.root, {mount: 'transit', key: 'no-such-key'})
  await t.rejects(missing.newDataKey(), {code: 'TRANSIT_KEY_MISSING'}, 'a mistyped Transit key is an error, not created on the fly')
})

t.test('over HTTP the upstream body is chunk-signed exactly when the client signed its own', async (t) => {
  // A tap between the proxy and versitygw: it forwards every byte and keeps each request's head.
  const heads: string[] = []
  const target = new URL(stack.s3.endpoint)
  const tap = createServer((client: Socket) => {
    const server = connect(Number(target.port), target.hostname)
    client.on('data', (b: Buffer) => {
      const text = b.toString('latin1')
      if (/^(PUT|GET|POST|HEAD|DELETE) /.test(text)) heads.push(text.slice(0, text.indexOf('\r\n\r\n')))
    })
    client.pipe(server).pipe(client)
    client.on('error', () => server.destroy())
    server.on('error', () => client.destroy())
  })
  await new Promise<void>((r) => tap.listen(0, '127.0.0.1', r))
  t.teardown(() => tap.close())
  await stack.restartProxy({upstream: {...stack.config.upstream, endpoint: new URL(`http://127.0.0.1:${(tap.address() as AddressInfo).port}`), payload: 'mirror'}})
  t.teardown(() => stack.restartProxy({upstream: {...stack.config.upstream, endpoint: target, payload: 'streaming'}}))
  await stack.sdk.send(new CreateBucketCommand({Bucket: 'mirror'}))
  const body = Buffer.alloc(200_000, 7)
  const putHead = async (Key: string, Body: Buffer | Readable) => {
    heads.length = 0
    await stack.sdk.send(new PutObjectCommand({Bucket: 'mirror', Key, Body, ContentLength: body.length}))
    const got = await stack.sdk.send(new GetObjectCommand({Bucket: 'mirror', Key}))
    t.same(Buffer.from(await got.Body!.transformToByteArray()), body, `${Key} round-trips`)
    return heads.find((h) => h.startsWith(`PUT /mirror/${Key}`)) ?? ''
  }
  // The SDK signs a Buffer body's hash and sends a stream as UNSIGNED-PAYLOAD over HTTP.
  t.match(await putHead('signed', body), /x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD/i, 'a signed client body: chunk-signed upstream')
  t.match(await putHead('unsigned', Readable.from([body])), /x-amz-content-sha256: UNSIGNED-PAYLOAD/i, 'an unsigned client body: unsigned upstream')
})
