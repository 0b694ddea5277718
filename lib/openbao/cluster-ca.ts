import {createHash, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject} from 'node:crypto'

/**
 * A per-cluster CA made entirely in memory: node:crypto makes the P-256 key and signs, and the
 * few DER structures of a self-signed certificate are encoded here (node:crypto can parse X.509
 * but not issue it). Unlike runtime/operator/pki.ts no openssl and no temp file is involved, so
 * the private key never touches a disk. The key stays a KeyObject (native memory) until the one
 * write to OpenBao, which takes it as bytes the caller zero-fills.
 */
export interface ClusterCa {
  certPem: string
  certDer: Buffer
  /** SHA-256 of the DER certificate, hex: also the beacon's operational info hash. */
  certSha256: string
  notAfter: string
  privateKey: KeyObject
}

export const CA_VALIDITY_DAYS = 3650

export function generateClusterCa(commonName: string, days = CA_VALIDITY_DAYS, now = new Date()): ClusterCa {
  const {publicKey, privateKey} = generateKeyPairSync('ec', {namedCurve: 'P-256'})
  const spki = publicKey.export({type: 'spki', format: 'der'})
  const notBefore = new Date(now.getTime() - 5 * 60_000)
  const notAfter = new Date(now.getTime() + days * 86_400_000)
  const name = seq(set(seq(oid('2.5.4.10'), utf8('cloudtaser'))), set(seq(oid('2.5.4.3'), utf8(commonName))))
  const ecdsaSha256 = seq(oid('1.2.840.10045.4.3.2'))
  const ski = createHash('sha1').update(spkiKeyBits(spki)).digest()
  const extensions = seq(
    seq(oid('2.5.29.19'), bool(true), octets(seq(bool(true), int(Buffer.from([0]))))),
    seq(oid('2.5.29.15'), bool(true), octets(bitString(Buffer.from([0x06]), 1))),
    seq(oid('2.5.29.14'), octets(octetString(ski))),
  )
  const serial = randomBytes(16)
  serial[0]! &= 0x7f
  const tbs = seq(explicit(0, int(Buffer.from([2]))), int(serial), ecdsaSha256, name, seq(time(notBefore), time(notAfter)), name, spki, explicit(3, extensions))
  const signature = sign('sha256', tbs, privateKey)
  const certDer = seq(tbs, ecdsaSha256, bitString(signature, 0))
  // Parsing and verifying with node:crypto catches an encoding mistake here, not at the bridge.
  const cert = new X509Certificate(certDer)
  if (!cert.ca || !cert.verify(publicKey)) throw new Error('the generated CA certificate does not verify')
  const b64 = certDer.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')
  return {
    certPem: `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`,
    certDer,
    certSha256: createHash('sha256').update(certDer).digest('hex'),
    notAfter: notAfter.toISOString(),
    privateKey,
  }
}

/**
 * The private key as PKCS#8 PEM bytes, built without a JavaScript string of the key: the caller
 * writes it and zero-fills the returned buffer (and the DER is zero-filled here).
 */
export function privateKeyPemBytes(key: KeyObject): Buffer {
  const der = key.export({type: 'pkcs8', format: 'der'})
  try {
    const head = Buffer.from('-----BEGIN PRIVATE KEY-----\n')
    const tail = Buffer.from('-----END PRIVATE KEY-----\n')
    const b64 = base64Lines(der, 64)
    const out = Buffer.allocUnsafeSlow(head.length + b64.length + tail.length)
    head.copy(out, 0)
    b64.copy(out, head.length)
    tail.copy(out, head.length + b64.length)
    b64.fill(0)
    return out
  } finally {
    der.fill(0)
  }
}

const B64 = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/')

/** Base64 into a buffer, a newline after every `width` characters and at the end. */
function base64Lines(bytes: Buffer, width: number): Buffer {
  const chars = Math.ceil(bytes.length / 3) * 4
  const out = Buffer.allocUnsafeSlow(chars + Math.ceil(chars / width))
  let o = 0
  let col = 0
  const put = (c: number) => {
    out[o++] = c
    if (++col === width) {
      out[o++] = 0x0a
      col = 0
    }
  }
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0)
    put(B64[(n >> 18) & 63]!)
    put(B64[(n >> 12) & 63]!)
    put(i + 1 < bytes.length ? B64[(n >> 6) & 63]! : 0x3d)
    put(i + 2 < bytes.length ? B64[n & 63]! : 0x3d)
  }
  if (col !== 0) out[o++] = 0x0a
  return out.subarray(0, o)
}

// Minimal DER: definite lengths, exactly the types a self-signed certificate needs.
function tlv(tag: number, body: Buffer): Buffer {
  const n = body.length
  const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff])
  return Buffer.concat([Buffer.from([tag]), len, body])
}
const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items))
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items))
const explicit = (n: number, inner: Buffer) => tlv(0xa0 + n, inner)
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0]))
const octetString = (b: Buffer) => tlv(0x04, b)
const octets = (inner: Buffer) => tlv(0x04, inner)
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'))
const bitString = (b: Buffer, unused: number) => tlv(0x03, Buffer.concat([Buffer.from([unused]), b]))
function int(b: Buffer): Buffer {
  let i = 0
  while (i < b.length - 1 && b[i] === 0 && b[i + 1]! < 0x80) i++
  const v = b.subarray(i)
  return tlv(0x02, v[0]! >= 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v)
}
function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number)
  const out = [a! * 40 + b!]
  for (const n of rest) {
    const groups = [n & 0x7f]
    for (let v = n >>> 7; v > 0; v >>>= 7) groups.unshift((v & 0x7f) | 0x80)
    out.push(...groups)
  }
  return tlv(0x06, Buffer.from(out))
}
function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14)
  // RFC 5280: UTCTime up to 2049, GeneralizedTime from 2050.
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${iso}Z`))
}
/** The subjectPublicKey BIT STRING contents of an SPKI (RFC 5280 method 1 key identifier). */
function spkiKeyBits(spki: Buffer): Buffer {
  // SEQUENCE { SEQUENCE algorithm, BIT STRING key }: skip the outer header and the algorithm.
  let p = 1 + lengthSize(spki, 1)
  p += 1 + lengthSize(spki, p + 1) + contentLength(spki, p + 1)
  const start = p + 1 + lengthSize(spki, p + 1)
  return spki.subarray(start + 1, start + contentLength(spki, p + 1))
}
const lengthSize = (b: Buffer, at: number) => (b[at]! < 0x80 ? 1 : 1 + (b[at]! & 0x7f))
function contentLength(b: Buffer, at: number): number {
  if (b[at]! < 0x80) return b[at]!
  let n = 0
  for (let i = 1; i <= (b[at]! & 0x7f); i++) n = (n << 8) | b[at + i]!
  return n
}
