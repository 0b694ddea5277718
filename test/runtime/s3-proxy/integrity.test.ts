// What the provider can do to stored objects, and what goes wrong around the proxy: tampered,
// truncated and reordered ciphertext is refused (never returned as data); rewrap after a Transit
// rotation leaves every body byte-identical; OpenBao down is a retryable 503; a missing key is an
// error, never plaintext; unencrypted objects are labelled or refused; bad signatures are refused.
import t from 'tap'
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {createCipheriv, randomBytes} from 'node:crypto'
import {CreateBucketCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, UploadPartCommand} from '@aws-sdk/client-s3'
import {resolveConnection} from '../../../lib/openbao/config.js'
import {transitEncrypt} from '../../../lib/openbao/transit.js'
import {coveringSegments, openSegments, partCiphertextSize, SALT, sealChunks, SEGMENT_CT} from '../../../runtime/s3-proxy/format.js'
import {rewrapBucket} from '../../../runtime/s3-proxy/rewrap.js'
import {startS3ProxyService} from '../../../runtime/s3-proxy/service.js'
import {runCli} from '../../helpers/cli.js'
import {sdkFor, startStack, storedFiles, TRANSIT_KEY} from './fixture.js'

const stack = await startStack()
t.teardown(() => stack.stop())
const Bucket = 'vault'
await stack.sdk.send(new CreateBucketCommand({Bucket}))
const bytes = async (r: {Body?: unknown}) => Buffer.from(await (r.Body as {transformToByteArray(): Promise<Uint8Array>}).transformToByteArray())
const fileOf = (key: string) => join(stack.s3.root, Bucket, key)
const put = (Key: string, data: Buffer) => stack.sdk.send(new PutObjectCommand({Bucket, Key, Body: data}))
const get = async (Key: string, Range?: string) => bytes(await stack.sdk.send(new GetObjectCommand({Bucket, Key, Range})))
const data = randomBytes(4 * 65536 + 1000)
/** How a request failed: the S3 error name and HTTP status (or 'ok'). */
const failure = (p: Promise<unknown>) =>
  p.then(
    () => ({name: 'ok', status: 200}),
    (e: {name?: string; $metadata?: {httpStatusCode?: number}}) => ({name: e.name, status: e.$metadata?.httpStatusCode}),
  )

async function* stream(b: Buffer) {
  yield b
}
/** Offset of segment i of a single-part object (format 2: the part's salt comes first). */
const seg = (i: number) => SALT + i * SEGMENT_CT

t.test('tampered, truncated and reordered ciphertext is refused', async (t) => {
  const cases: [string, (b: Buffer) => Buffer][] = [
    ['a flipped bit in the salt', (b) => (b[3]! ^= 1, b)],
    ['a flipped bit in the first segment', (b) => (b[seg(0) + 20]! ^= 1, b)],
    ['a flipped bit in the third segment', (b) => (b[seg(2) + 100]! ^= 1, b)],
    ['a flipped bit in the last tag', (b) => (b[b.length - 1]! ^= 1, b)],
    ['the last segment dropped', (b) => b.subarray(0, b.length - SEGMENT_CT)],
    ['cut inside a segment', (b) => b.subarray(0, seg(1) + 500)],
    ['cut inside the salt', (b) => b.subarray(0, 7)],
    ['segments 0 and 1 swapped', (b) => Buffer.concat([b.subarray(0, SALT), b.subarray(seg(1), seg(2)), b.subarray(seg(0), seg(1)), b.subarray(seg(2))])],
    ['segments 1 and 2 swapped', (b) => Buffer.concat([b.subarray(0, seg(1)), b.subarray(seg(2), seg(3)), b.subarray(seg(1), seg(2)), b.subarray(seg(3))])],
    ['the salt of another object', (b) => Buffer.concat([readFileSync(fileOf('t/other')).subarray(0, SALT), b.subarray(SALT)])],
  ]
  await put('t/other', data)
  for (const [what, mangle] of cases) {
    const Key = `t/${what.replace(/\W+/g, '-')}`
    await put(Key, data)
    t.ok((await get(Key)).equals(data), `${what}: intact before`)
    writeFileSync(fileOf(Key), mangle(Buffer.from(readFileSync(fileOf(Key)))))
    await t.rejects(get(Key), `${what}: a full GET fails`)
    await t.rejects(get(Key, `bytes=${2 * 65536 + 5}-${2 * 65536 + 10}`).then((b) => {
      // A range of an untouched segment may still be served; it must then be the real bytes.
      if (!b.equals(data.subarray(2 * 65536 + 5, 2 * 65536 + 11))) return b
      throw new Error('untouched segment, correct bytes')
    }), `${what}: a ranged GET never returns wrong bytes`)
  }
  t.ok(Number(/cloudtaser_s3_proxy_integrity_failures_total (\d+)/.exec(await (await fetch(`${stack.proxy.opsUrl}/metrics`)).text())?.[1]) >= 0, 'metrics are served')
})

t.test('derived nonces: each part upload has its own salt, so the same part uploaded again never reuses a key and nonce', async (t) => {
  const key = randomBytes(32)
  const sealed = async () => {
    const out: Buffer[] = []
    for await (const c of sealChunks(key, 1, data.length, true, stream(data))) out.push(Buffer.from(c))
    return Buffer.concat(out)
  }
  const [a, b] = [await sealed(), await sealed()]
  t.notSame(a.subarray(0, SALT), b.subarray(0, SALT), 'two uploads of one part under one data key: different salts')
  t.notSame(a.subarray(seg(0), seg(0) + 64), b.subarray(seg(0), seg(0) + 64), 'so the same plaintext gives unrelated ciphertext (a repeated key and nonce would give the same bytes)')
  // The same salt (and key) does give the same bytes: the nonce is derived, nothing else is random.
  const refs = coveringSegments({version: 2, padded: true, parts: [{part: 1, length: data.length}]}, 0, data.length - 1)
  t.equal(refs[0]!.kind, 'salt', 'a read from the start of a part reads its salt first')
  const plain: Buffer[] = []
  for await (const p of openSegments(key, refs, stream(a))) plain.push(p)
  t.ok(Buffer.concat(plain).equals(data), 'and decrypts with the salt read from the stream')
  const moved = coveringSegments({version: 2, padded: true, parts: [{part: 2, length: data.length}]}, 0, data.length - 1)
  await t.rejects(async () => {
    for await (const p of openSegments(key, moved, stream(a))) void p
  }, {code: 'S3_INTEGRITY'}, 'a part presented under another part number fails (the part number keys it and is in the AAD)')

  // Multipart through the proxy: part 2 uploaded twice with the same bytes; the second upload is stored.
  const Key = 'mp/reupload'
  const body = randomBytes(5 * 1024 * 1024)
  const {UploadId} = await stack.sdk.send(new CreateMultipartUploadCommand({Bucket, Key}))
  const p1 = await stack.sdk.send(new UploadPartCommand({Bucket, Key, UploadId, PartNumber: 1, Body: body}))
  const first = await stack.sdk.send(new UploadPartCommand({Bucket, Key, UploadId, PartNumber: 2, Body: body}))
  const second = await stack.sdk.send(new UploadPartCommand({Bucket, Key, UploadId, PartNumber: 2, Body: body}))
  t.not(first.ETag, second.ETag, 'the same part, same bytes, uploaded again: different ciphertext (its ETag)')
  await stack.sdk.send(new CompleteMultipartUploadCommand({Bucket, Key, UploadId, MultipartUpload: {Parts: [{PartNumber: 1, ETag: p1.ETag}, {PartNumber: 2, ETag: second.ETag}]}}))
  const stored = readFileSync(fileOf(Key))
  const partCt = partCiphertextSize(body.length, true)
  t.equal(stored.length, 2 * partCt, 'two parts, each with its salt')
  t.notSame(stored.subarray(0, SALT), stored.subarray(partCt, partCt + SALT), 'each part its own salt')
  t.ok((await get(Key)).equals(Buffer.concat([body, body])), 'the object reads back')
  t.ok((await get(Key, `bytes=${body.length + 70_000}-${body.length + 70_010}`)).equals(body.subarray(70_000, 70_011)), 'a range inside part 2 (its salt read first) reads back')
  t.ok((await get(Key, `bytes=${body.length - 5}-${body.length + 5}`)).equals(Buffer.concat([body.subarray(-5), body.subarray(0, 6)])), 'a range across the part boundary reads back')
  // The parts' ciphertext swapped (salts with them): each part's key and AAD name its number.
  writeFileSync(fileOf(Key), Buffer.concat([stored.subarray(partCt), stored.subarray(0, partCt)]))
  await t.rejects(get(Key), 'parts swapped: refused')
  await t.rejects(get(Key, `bytes=${body.length + 70_000}-${body.length + 70_010}`), 'parts swapped: a range inside part 2 refused')
  // The salts of the two parts swapped, segments in place.
  writeFileSync(fileOf(Key), Buffer.concat([stored.subarray(partCt, partCt + SALT), stored.subarray(SALT, partCt), stored.subarray(0, SALT), stored.subarray(partCt + SALT)]))
  await t.rejects(get(Key), 'salts swapped: refused')
})

t.test('format 1 objects (random nonce per segment, written before format 2) still read', async (t) => {
  // Written here by an independent implementation of format 1 (docs/s3-proxy.md), not by the proxy.
  const Key = 'v1/object'
  const plain = randomBytes(2 * 65536 + 300)
  const dek = randomBytes(32)
  const aad = (part: number, index: number, final: boolean) => {
    const b = Buffer.alloc(14)
    b.write('ctsr1', 0, 'latin1')
    b.writeUInt32BE(part, 5)
    b.writeUInt32BE(index, 9)
    b[13] = final ? 1 : 0
    return b
  }
  const seal1 = (part: number, index: number, final: boolean, p: Buffer) => {
    const nonce = randomBytes(12)
    const c = createCipheriv('aes-256-gcm', dek, nonce)
    c.setAAD(aad(part, index, final))
    return Buffer.concat([nonce, c.update(p), c.final(), c.getAuthTag()])
  }
  const segs = [0, 1, 2].map((i) => {
    const p = plain.subarray(i * 65536, (i + 1) * 65536)
    return seal1(1, i, i === 2, i === 2 ? Buffer.concat([p, Buffer.alloc(65536 - p.length)]) : p)
  })
  const manifest = Buffer.alloc(20)
  manifest[0] = 1
  manifest[1] = 1
  manifest.writeUInt16BE(1, 2)
  manifest.writeUInt32BE(1, 4)
  manifest.writeUInt32BE(1, 8)
  manifest.writeBigUInt64BE(BigInt(plain.length), 12)
  const [wrapped] = await transitEncrypt(stack.root, 'transit', TRANSIT_KEY, [dek])
  await stack.direct.send(new PutObjectCommand({
    Bucket,
    Key,
    Body: Buffer.concat(segs),
    Metadata: {'cloudtaser-format': '1', 'cloudtaser-key': TRANSIT_KEY, 'cloudtaser-dek': wrapped!.ciphertext, 'cloudtaser-manifest': seal1(0, 0, true, manifest).toString('base64')},
  }))
  const o = await stack.sdk.send(new GetObjectCommand({Bucket, Key}))
  t.equal((o as {$metadata: unknown} & Record<string, unknown>).ContentLength, plain.length)
  t.ok((await bytes(o)).equals(plain), 'a format 1 object reads back')
  t.ok((await get(Key, 'bytes=70000-140000')).equals(plain.subarray(70_000, 140_001)), 'and its ranges')
  const tampered = Buffer.concat(segs)
  tampered[65564 + 40]! ^= 1
  writeFileSync(fileOf(Key), tampered)
  await t.rejects(get(Key), 'a tampered format 1 object is refused')
})

t.test('padding: stored sizes reveal plaintext sizes only to 64 KiB; --no-pad stores exact sizes and still round-trips', async (t) => {
  const sizes = [0, 1, 65535, 65536, 100_000]
  for (const n of sizes) await put(`pad/${n}`, data.subarray(0, n))
  t.same(sizes.map((n) => readFileSync(fileOf(`pad/${n}`)).length), [1, 1, 1, 1, 2].map((k) => SALT + k * SEGMENT_CT), 'padded: the salt and whole segments')
  await stack.restartProxy({pad: false})
  for (const n of sizes) await stack.sdk.send(new PutObjectCommand({Bucket, Key: `nopad/${n}`, Body: data.subarray(0, n)}))
  t.same(sizes.map((n) => readFileSync(fileOf(`nopad/${n}`)).length), sizes.map((n) => SALT + n + 16 * Math.max(1, Math.ceil(n / 65536))), 'unpadded: the salt, plaintext + 16 bytes per segment')
  for (const n of sizes) {
    t.ok((await get(`nopad/${n}`)).equals(data.subarray(0, n)), `unpadded ${n}: every byte`)
    if (n > 10) t.ok((await get(`nopad/${n}`, `bytes=${n - 10}-`)).equals(data.subarray(n - 10, n)), `unpadded ${n}: a range at the end`)
  }
  await stack.restartProxy({pad: true})
  t.ok((await get('nopad/100000')).equals(data.subarray(0, 100_000)), 'a padding proxy reads unpadded objects (the manifest says which)')
})

t.test('the first segment failing is a clean S3 error (InvalidObjectState), not a broken stream', async (t) => {
  await put('t/clean', data)
  const b = Buffer.from(readFileSync(fileOf('t/clean')))
  b[SALT + 30]! ^= 1
  writeFileSync(fileOf('t/clean'), b)
  t.same(await failure(stack.sdk.send(new GetObjectCommand({Bucket, Key: 't/clean'}))), {name: 'InvalidObjectState', status: 500})
})

t.test('rewrap after a Transit rotation: bodies byte-identical, data keys on the new version, all objects decrypt', async (t) => {
  const B = 'rot'
  await stack.sdk.send(new CreateBucketCommand({Bucket: B}))
  const objects = new Map<string, Buffer>()
  for (let i = 0; i < 5; i++) objects.set(`k/${i}`, randomBytes(1000 + i * 70_000))
  for (const [Key, Body] of objects) await stack.sdk.send(new PutObjectCommand({Bucket: B, Key, Body, ContentType: 'application/x-test', Metadata: {n: Key}}))
  // One multipart object too: its manifest was added by a copy; rewrap keeps it.
  const mp = randomBytes(5 * 1024 * 1024 + 10)
  const {UploadId} = await stack.sdk.send(new CreateMultipartUploadCommand({Bucket: B, Key: 'k/mp'}))
  const p1 = await stack.sdk.send(new UploadPartCommand({Bucket: B, Key: 'k/mp', UploadId, PartNumber: 1, Body: mp.subarray(0, 5 * 1024 * 1024)}))
  const p2 = await stack.sdk.send(new UploadPartCommand({Bucket: B, Key: 'k/mp', UploadId, PartNumber: 2, Body: mp.subarray(5 * 1024 * 1024)}))
  await stack.sdk.send(new CompleteMultipartUploadCommand({Bucket: B, Key: 'k/mp', UploadId, MultipartUpload: {Parts: [{PartNumber: 1, ETag: p1.ETag}, {PartNumber: 2, ETag: p2.ETag}]}}))
  objects.set('k/mp', mp)
  const bodiesBefore = new Map([...objects.keys()].map((k) => [k, readFileSync(join(stack.s3.root, B, k))]))

  await stack.root.write(`transit/keys/${TRANSIT_KEY}/rotate`, {})
  const up = stack.config.upstream
  const seen: string[] = []
  const r = await rewrapBucket(up, stack.root, {bucket: B, prefix: 'k/', transitMount: 'transit', onObject: (k, o) => seen.push(`${k}:${o}`)})
  t.match(r, {scanned: 6, rewrapped: 6, current: 0, unencrypted: 0, changed: 0, latest: {[TRANSIT_KEY]: 2}, lastKey: 'k/mp'})
  for (const [k, before] of bodiesBefore) t.ok(readFileSync(join(stack.s3.root, B, k)).equals(before), `${k}: body byte-identical on the server`)
  // versitygw leaves the sidecar of a completed multipart upload under .sgwtmp (not an object).
  const meta = [...storedFiles(stack.s3)].filter(([p]) => p.startsWith(join(stack.s3.metaDir, B)) && !p.includes('/.sgwtmp/'))
  t.same(meta.filter(([, b]) => b.includes('vault:v1:')).map(([p]) => p), [], 'no version-1-wrapped key left in the metadata')
  t.equal(meta.filter(([, b]) => b.includes('vault:v2:')).length, 6, 'six data keys wrapped by version 2')
  // A fresh proxy (empty key cache) must unwrap the v2-wrapped keys through Transit.
  await stack.restartProxy()
  for (const [Key, Body] of objects) {
    const o = await stack.sdk.send(new GetObjectCommand({Bucket: B, Key}))
    t.ok((await bytes(o)).equals(Body), `${Key} decrypts after rewrap`)
    if (Key !== 'k/mp') t.equal(o.Metadata?.n, Key, `${Key}: user metadata kept`)
    if (Key !== 'k/mp') t.equal(o.ContentType, 'application/x-test', `${Key}: content type kept`)
  }
  const again = await rewrapBucket(up, stack.root, {bucket: B, prefix: 'k/', transitMount: 'transit'})
  t.match(again, {scanned: 6, rewrapped: 0, current: 6}, 'a second run changes nothing (resumable)')
  const resumed = await rewrapBucket(up, stack.root, {bucket: B, prefix: 'k/', startAfter: 'k/3', transitMount: 'transit'})
  t.equal(resumed.scanned, 2, '--start-after resumes after a key')

  await stack.root.write(`transit/keys/${TRANSIT_KEY}/rotate`, {})
  const cli = await runCli(['s3-proxy', 'rewrap', '--upstream', stack.s3.endpoint, '--bucket', B, '--json'], {
    env: {BAO_ADDR: stack.bao.addr, BAO_TOKEN: stack.bao.token, CLOUDTASER_S3_UPSTREAM_ACCESS_KEY_ID: stack.s3.accessKeyId, CLOUDTASER_S3_UPSTREAM_SECRET_ACCESS_KEY: stack.s3.secretAccessKey},
  })
  t.equal(cli.code, 0, cli.stderr)
  t.match(JSON.parse(cli.stdout), {bucket: B, scanned: 6, rewrapped: 6, latest: {[TRANSIT_KEY]: 3}}, '`s3-proxy rewrap --json` reports what it did')
})

t.test('unencrypted objects are read as they are, labelled; --require-encrypted refuses them', async (t) => {
  const plain = Buffer.from('written before the proxy existed')
  await stack.direct.send(new PutObjectCommand({Bucket, Key: 'legacy', Body: plain}))
  const o = await stack.sdk.send(new GetObjectCommand({Bucket, Key: 'legacy'}))
  t.ok((await bytes(o)).equals(plain))
  t.equal((o.$metadata as {httpStatusCode?: number}).httpStatusCode, 200)
  const raw = await fetchHeader(stack, 'legacy')
  t.equal(raw, 'none', 'x-cloudtaser-encryption: none')
  await stack.restartProxy({requireEncrypted: true})
  await t.rejects(stack.sdk.send(new GetObjectCommand({Bucket, Key: 'legacy'})), {name: 'EncryptionRequired'})
  await stack.sdk.send(new PutObjectCommand({Bucket, Key: 'enc', Body: data}))
  t.ok((await bytes(await stack.sdk.send(new GetObjectCommand({Bucket, Key: 'enc'})))).equals(data), 'encrypted objects still read')
  await stack.restartProxy({requireEncrypted: false})
})

async function fetchHeader(s: typeof stack, key: string): Promise<string | null> {
  // The SDK hides unknown headers; a HEAD through a middleware-free client reads it.
  const c = sdkFor(s.proxy.proxy.url, s.client)
  let header: string | null = null
  c.middlewareStack.add((next) => async (args) => {
    const r = await next(args)
    header = ((r.response as {headers?: Record<string, string>}).headers ?? {})['x-cloudtaser-encryption'] ?? null
    return r
  }, {step: 'deserialize'})
  await c.send(new HeadObjectCommand({Bucket, Key: key}))
  c.destroy()
  return header
}

t.test('a checksum that does not match the plaintext: BadDigest, nothing stored', async (t) => {
  const body = Buffer.from('secret-plaintext that must not be stored')
  t.same(await failure(stack.sdk.send(new PutObjectCommand({Bucket, Key: 'bad-crc', Body: body, ChecksumCRC32: 'AAAAAA=='}))), {name: 'BadDigest', status: 400})
  t.same(await failure(stack.sdk.send(new PutObjectCommand({Bucket, Key: 'bad-md5', Body: body, ContentMD5: '1B2M2Y8AsgTpgAZPl3+yMQ=='}))), {name: 'BadDigest', status: 400})
  t.notOk(storedFiles(stack.s3).has(fileOf('bad-crc')) || storedFiles(stack.s3).has(fileOf('bad-md5')), 'nothing stored')
  const ok = await stack.sdk.send(new PutObjectCommand({Bucket, Key: 'good-crc', Body: body, ChecksumAlgorithm: 'CRC32'}))
  t.ok(ok.ChecksumCRC32, 'a correct CRC32 is verified and echoed')
})

t.test('aws-chunked uploads signed per chunk (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) are verified', async (t) => {
  // A second proxy in front of the first: its upstream signer (whose uploads versitygw accepts)
  // streams signed chunks, which the first proxy must verify chunk by chunk.
  const front = await startS3ProxyService({
    ...stack.config,
    port: 0,
    client: {accessKeyId: 'FRONT', secretAccessKey: 'front-secret'},
    upstream: {endpoint: new URL(stack.proxy.proxy.url), region: 'us-east-1', credentials: stack.client, payload: 'streaming'},
  })
  t.teardown(() => front.stop())
  const c = sdkFor(front.proxy.url, {accessKeyId: 'FRONT', secretAccessKey: 'front-secret'})
  t.teardown(() => c.destroy())
  const big = randomBytes(3 * 1024 * 1024 + 17)
  await c.send(new PutObjectCommand({Bucket, Key: 'chained', Body: big}))
  // The back proxy keeps its own envelope only (it drops cloudtaser metadata from clients), so
  // what it returns is the front proxy's ciphertext, whole: every streamed chunk was accepted.
  const inner = await bytes(await stack.sdk.send(new GetObjectCommand({Bucket, Key: 'chained'})))
  t.equal(inner.length, partCiphertextSize(big.length, true), 'the back proxy stored every chunk the front one streamed')
  t.notOk(inner.includes(big.subarray(0, 64)), 'and it is ciphertext')
  const wrongSecret = await startS3ProxyService({
    ...stack.config,
    port: 0,
    client: {accessKeyId: 'FRONT', secretAccessKey: 'front-secret'},
    upstream: {endpoint: new URL(stack.proxy.proxy.url), region: 'us-east-1', credentials: {accessKeyId: stack.client.accessKeyId, secretAccessKey: 'not-the-secret'}, payload: 'streaming'},
  })
  t.teardown(() => wrongSecret.stop())
  const w = sdkFor(wrongSecret.proxy.url, {accessKeyId: 'FRONT', secretAccessKey: 'front-secret'})
  t.teardown(() => w.destroy())
  t.same(await failure(w.send(new PutObjectCommand({Bucket, Key: 'chained-bad', Body: big}))), {name: 'SignatureDoesNotMatch', status: 403})
})

t.test('failures around the proxy', async (t) => {
  await t.test('a wrong client secret: SignatureDoesNotMatch; the upstream credentials are not accepted', async (t) => {
    const wrong = sdkFor(stack.proxy.proxy.url, {accessKeyId: stack.client.accessKeyId, secretAccessKey: 'wrong'})
    t.same(await failure(wrong.send(new GetObjectCommand({Bucket, Key: 'legacy'}))), {name: 'SignatureDoesNotMatch', status: 403})
    wrong.destroy()
    const upstreamCreds = sdkFor(stack.proxy.proxy.url, {accessKeyId: stack.s3.accessKeyId, secretAccessKey: stack.s3.secretAccessKey})
    await t.rejects(upstreamCreds.send(new GetObjectCommand({Bucket, Key: 'legacy'})), {name: 'InvalidAccessKeyId'})
    upstreamCreds.destroy()
  })

  await t.test('a Transit key that does not exist: an error, nothing stored in plaintext', async (t) => {
    await stack.restartProxy({transit: {mount: 'transit', key: 'no-such-key'}})
    t.same(await failure(stack.sdk.send(new PutObjectCommand({Bucket, Key: 'nokey', Body: Buffer.from('secret-plaintext')}))), {name: 'KMS_KeyMissing', status: 500})
    t.notOk(storedFiles(stack.s3).has(fileOf('nokey')), 'nothing stored')
    await stack.restartProxy({transit: {mount: 'transit', key: TRANSIT_KEY}})
  })

  await t.test('OpenBao unreachable: 503 ServiceUnavailable (retryable), nothing stored', async (t) => {
    const dead = resolveConnection({'openbao-addr': 'http://127.0.0.1:9', token: 'x'}, {}, '/nonexistent')
    await stack.restartProxy({bao: {...dead, attempts: 1}})
    t.same(await failure(stack.sdk.send(new PutObjectCommand({Bucket, Key: 'down', Body: Buffer.from('secret-plaintext')}))), {name: 'ServiceUnavailable', status: 503})
    t.notOk(storedFiles(stack.s3).has(fileOf('down')), 'nothing stored')
    t.same(await failure(stack.sdk.send(new GetObjectCommand({Bucket, Key: 'enc'}))), {name: 'ServiceUnavailable', status: 503}, 'reads of encrypted objects: 503 too')
    await stack.restartProxy({bao: resolveConnection({'openbao-addr': stack.bao.addr, token: stack.bao.token}, {}, '/nonexistent')})
  })
})


t.test('a client that goes away mid-body: the proxy stops reading upstream, gives its buffers back and serves on', async (t) => {
  const big = randomBytes(24 * 1024 * 1024)
  await put('gone/big', big)
  for (let i = 0; i < 3; i++) {
    const r = await stack.sdk.send(new GetObjectCommand({Bucket, Key: 'gone/big'}))
    const body = r.Body as NodeJS.ReadableStream & {destroy(): void}
    await new Promise<void>((resolve) => body.once('data', () => resolve()))
    body.destroy()
  }
  // Sockets the proxy was writing to are gone; it must neither crash nor wedge.
  await new Promise((r) => setTimeout(r, 200))
  t.ok((await get('gone/big')).equals(big), 'the next full GET is whole')
  t.ok((await get('gone/big', 'bytes=20000000-20000099')).equals(big.subarray(20_000_000, 20_000_100)), 'and a ranged one')
})
