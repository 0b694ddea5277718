// The hand-written parsers on the tunnel, fed what a hostile peer (a rogue broker, or a beacon in
// the middle before the TLS) could send: the JSON line reader, the bootstrap request check and the
// ServiceAccount token check. Seeded, so a failure replays; HTTP/2 inside the tunnel is Node's.
import t from 'tap'
import {generateKeyPairSync, randomUUID} from 'node:crypto'
import net from 'node:net'
import {PassThrough} from 'node:stream'
import {makeCsr} from '../../../lib/x509/csr.js'
import {parseBootstrap} from '../../../runtime/bridge/issuer.js'
import {JwksCache} from '../../../runtime/bridge/jwt.js'
import {LIMITS, readLine} from '../../../runtime/tunnel/wire.js'

// mulberry32: small, seeded, good enough to spread inputs.
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}
const SEED = Number(process.env.FUZZ_SEED ?? 20261204)
const rnd = prng(SEED)
const int = (n: number) => Math.floor(rnd() * n)
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!
const bytes = (n: number) => Buffer.from(Array.from({length: n}, () => int(256)))

function randomJson(depth = 0): unknown {
  switch (int(depth > 3 ? 5 : 8)) {
    case 0: return null
    case 1: return rnd() < 0.5
    case 2: return pick([0, -1, 1e308, 3.5, 2 ** 53, NaN])
    case 3: return pick(['', 'bootstrap', 'x'.repeat(int(300)), '\u0000', '\u2028', 'cloudtaser-broker.cloudtaser-system.svc', '127.0.0.1', '::1', 'a.svc', '*.svc'])
    case 4: return bytes(int(40)).toString('latin1')
    case 5: return Array.from({length: int(12)}, () => randomJson(depth + 1))
    default: return Object.fromEntries(Array.from({length: int(6)}, () => [pick(['v', 'type', 'fingerprint', 'csr', 'dnsNames', 'ipAddresses', 'proof', '__proto__', 'constructor', 'x']), randomJson(depth + 1)]))
  }
}

t.test(`readLine: random bytes in random splits resolve to the first line's JSON or a clear rejection, never hang (seed ${SEED})`, async (t) => {
  const outcomes = new Map<string, number>()
  for (let i = 0; i < 400; i++) {
    const s = new PassThrough()
    const kind = int(4)
    const payload =
      kind === 0 ? Buffer.from(`${JSON.stringify(randomJson())}\n`)
      : kind === 1 ? Buffer.concat([bytes(int(200)), Buffer.from('\n'), bytes(int(50))])
      : kind === 2 ? bytes(LIMITS.maxLineBytes + 1 + int(1000)).map((b) => (b === 0x0a ? 0x20 : b))
      : bytes(int(100)).map((b) => (b === 0x0a ? 0x20 : b))
    const p = readLine<unknown>(s, 300)
    for (let at = 0; at < payload.length; ) {
      const n = 1 + int(4096)
      s.write(payload.subarray(at, at + n))
      at += n
    }
    if (kind === 3 && rnd() < 0.5) s.end()
    const r = await p.then(
      (v) => ({ok: true as const, v}),
      (e: Error) => ({ok: false as const, m: e.message}),
    )
    const key = r.ok ? 'parsed' : r.m.replace(/\d+/g, 'N')
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1)
    if (r.ok) {
      const nl = payload.indexOf(0x0a)
      t.ok(nl >= 0 && nl <= LIMITS.maxLineBytes, 'only a complete line within the limit parses')
      t.same(r.v, JSON.parse(payload.subarray(0, nl).toString('utf8')), 'and it is the first line')
    } else t.match(r.m, /^(not a JSON line|line longer than \d+ bytes|the peer closed the connection|no answer within \d+ ms)$/)
  }
  t.ok(outcomes.get('parsed')! > 50 && outcomes.size >= 4, `every outcome reached: ${JSON.stringify(Object.fromEntries(outcomes))}`)
})

t.test('parseBootstrap: any JSON gets a refusal or a request whose names, addresses and CSR were all checked', async (t) => {
  const fp = randomUUID()
  const {publicKey, privateKey} = generateKeyPairSync('ec', {namedCurve: 'P-256'})
  const valid = {v: 1, type: 'bootstrap', fingerprint: fp, csr: makeCsr(privateKey, publicKey, 'cloudtaser-broker-x'), dnsNames: ['cloudtaser-broker.cloudtaser-system.svc'], ipAddresses: ['10.0.0.1']}
  t.match(parseBootstrap(valid as never, fp), {ok: true, dnsNames: valid.dnsNames, ipAddresses: valid.ipAddresses}, 'the control: a valid request passes')
  const codes = new Map<string, number>()
  for (let i = 0; i < 2000; i++) {
    // Half wholly random, half one field of the valid request replaced.
    const req = i % 2 ? randomJson() : {...valid, [pick(Object.keys(valid))]: randomJson()}
    let r
    try {
      r = parseBootstrap(req as never, fp)
    } catch (err) {
      t.fail(`threw on ${JSON.stringify(req)?.slice(0, 200)}: ${(err as Error).message}`)
      continue
    }
    const code = r.ok ? 'ok' : r.code
    codes.set(code, (codes.get(code) ?? 0) + 1)
    if (!r.ok) continue
    t.ok(r.dnsNames.length + r.ipAddresses.length <= 8)
    t.ok(r.dnsNames.every((d) => typeof d === 'string' && /(\.svc|\.svc\.cluster\.local|^localhost)$/.test(d)), 'in-cluster names only')
    t.ok(r.ipAddresses.every((a) => typeof a === 'string' && net.isIP(a) !== 0), 'addresses only')
  }
  t.ok(codes.get('BRIDGE_BAD_REQUEST')! > 0 && codes.get('BRIDGE_BAD_CSR')! > 0 && codes.get('BRIDGE_WRONG_ROOM')! > 0 && codes.get('ok')! > 0, `every path reached: ${JSON.stringify(Object.fromEntries(codes))}`)
})

t.test('JwksCache.verify: random and mangled tokens are refused with a reason, never thrown', async (t) => {
  const {publicKey} = generateKeyPairSync('rsa', {modulusLength: 2048})
  const keys = new JwksCache()
  keys.set({issuer: 'https://k8s.example', keys: [{...publicKey.export({format: 'jwk'}), kid: 'k1'}]})
  const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v) ?? '').toString('base64url')
  for (let i = 0; i < 1000; i++) {
    const jwt = pick([
      () => bytes(int(300)).toString('latin1'),
      () => `${b64(randomJson())}.${b64(randomJson())}.${bytes(int(300)).toString('base64url')}`,
      () => `${b64({alg: pick(['RS256', 'ES256', 'none', 'HS256', '', 'constructor', '__proto__', 'toString']), kid: pick(['k1', 'k2', '', 'constructor', '__proto__'])})}.${b64({iss: 'https://k8s.example', sub: 'system:serviceaccount:a:b', exp: 2e9, aud: randomJson()})}.${bytes(int(256)).toString('base64url')}`,
      () => [b64(randomJson()), b64(randomJson())].join('.'),
    ])()
    let v
    try {
      v = keys.verify(jwt, undefined, pick([undefined, 'cloudtaser-bridge:x']))
    } catch (err) {
      t.fail(`threw on ${jwt.slice(0, 120)}: ${(err as Error).message}`)
      continue
    }
    if (v.ok) t.fail(`accepted a token nobody signed: ${jwt.slice(0, 120)}`)
  }
  t.pass('1000 forged or random tokens, none accepted, none thrown')
})
