// Minimal DER (X.690): definite lengths, exactly the types cloudtaser's certificates and CSRs
// need. node:crypto parses and verifies X.509 but cannot issue certificates or CSRs; this is the
// one encoder (cluster CA, broker CSR, certificates the bridge issues) and the one reader (CSRs).

export function tlv(tag: number, body: Buffer): Buffer {
  const n = body.length
  const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : n < 0x10000 ? Buffer.from([0x82, n >> 8, n & 0xff]) : Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff])
  return Buffer.concat([Buffer.from([tag]), len, body])
}
export const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items))
export const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items))
export const explicit = (n: number, inner: Buffer) => tlv(0xa0 + n, inner)
export const implicit = (n: number, body: Buffer) => tlv(0x80 + n, body)
export const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0]))
export const octets = (inner: Buffer) => tlv(0x04, inner)
export const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'))
export const bitString = (b: Buffer, unused: number) => tlv(0x03, Buffer.concat([Buffer.from([unused]), b]))
export function int(b: Buffer): Buffer {
  let i = 0
  while (i < b.length - 1 && b[i] === 0 && b[i + 1]! < 0x80) i++
  const v = b.subarray(i)
  return tlv(0x02, v[0]! >= 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v)
}
export function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number)
  const out = [a! * 40 + b!]
  for (const n of rest) {
    const groups = [n & 0x7f]
    for (let v = n >>> 7; v > 0; v >>>= 7) groups.unshift((v & 0x7f) | 0x80)
    out.push(...groups)
  }
  return tlv(0x06, Buffer.from(out))
}
export function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14)
  // RFC 5280: UTCTime up to 2049, GeneralizedTime from 2050.
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${iso}Z`))
}
/** O=cloudtaser, CN=<cn>. */
export const name = (commonName: string) => seq(set(seq(oid('2.5.4.10'), utf8('cloudtaser'))), set(seq(oid('2.5.4.3'), utf8(commonName))))
export const ECDSA_SHA256 = () => seq(oid('1.2.840.10045.4.3.2'))

/** One parsed TLV: its tag, its contents, and the whole element (header included). */
export interface Node {
  tag: number
  body: Buffer
  raw: Buffer
}

/**
 * Reads one element at `at`. Throws on anything malformed (indefinite or oversized lengths, a
 * length past the end): the reader faces untrusted bytes (a CSR from the init room).
 */
export function read(buf: Buffer, at = 0): Node {
  if (at + 2 > buf.length) throw new Error('DER: truncated header')
  const tag = buf[at]!
  if ((tag & 0x1f) === 0x1f) throw new Error('DER: multi-byte tags are not supported')
  let len = buf[at + 1]!
  let p = at + 2
  if (len & 0x80) {
    const n = len & 0x7f
    if (n === 0 || n > 3) throw new Error('DER: unsupported length encoding')
    if (p + n > buf.length) throw new Error('DER: truncated length')
    len = 0
    for (let i = 0; i < n; i++) len = (len << 8) | buf[p + i]!
    p += n
  }
  if (p + len > buf.length) throw new Error('DER: length past the end')
  return {tag, body: buf.subarray(p, p + len), raw: buf.subarray(at, p + len)}
}

/** The elements inside a constructed element's contents. */
export function children(body: Buffer): Node[] {
  const out: Node[] = []
  for (let at = 0; at < body.length; ) {
    const n = read(body, at)
    out.push(n)
    at += n.raw.length
  }
  return out
}

/** The subjectPublicKey BIT STRING contents of an SPKI (RFC 5280 method 1 key identifier). */
export function spkiKeyBits(spki: Buffer): Buffer {
  const [, key] = children(read(spki).body)
  if (!key || key.tag !== 0x03) throw new Error('DER: not a SubjectPublicKeyInfo')
  return key.body.subarray(1)
}

export function pem(label: string, der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`
}

export function unpem(label: string, text: string): Buffer {
  const m = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`).exec(text)
  if (!m) throw new Error(`no PEM ${label} block`)
  return Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64')
}
