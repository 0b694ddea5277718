// X.509 v3 certificates built with node:crypto alone (DER by hand, ECDSA P-256 / SHA-256).
// node:crypto parses and verifies certificates but cannot issue them, and the operator's image
// holds Node and nothing else (no openssl command, read-only root filesystem): so the few
// structures a webhook CA and its serving certificate need are encoded here (RFC 5280).
import {createHash, randomBytes, sign, type KeyObject} from 'node:crypto'
import {isIP} from 'node:net'

const tlv = (tag: number, content: Buffer): Buffer => {
  const n = content.length
  let len: Buffer
  if (n < 0x80) len = Buffer.from([n])
  else {
    const bytes: number[] = []
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff)
    len = Buffer.from([0x80 | bytes.length, ...bytes])
  }
  return Buffer.concat([Buffer.from([tag]), len, content])
}
const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items))
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items))
const octets = (b: Buffer) => tlv(0x04, b)
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'))
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0]))
const explicit = (n: number, inner: Buffer) => tlv(0xa0 | n, inner)
/** BIT STRING with every bit used (keys, signatures). */
const bits = (b: Buffer) => tlv(0x03, Buffer.concat([Buffer.from([0]), b]))

/** A non-negative INTEGER from big-endian bytes (a leading zero keeps the sign bit clear). */
function uint(b: Buffer): Buffer {
  let i = 0
  while (i < b.length - 1 && b[i] === 0) i++
  const v = b.subarray(i)
  return tlv(0x02, v[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v)
}

function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number)
  const out = [a! * 40 + b!]
  for (const n of rest) {
    const groups: number[] = []
    for (let v = n; ; v = Math.floor(v / 128)) {
      groups.unshift(v % 128)
      if (v < 128) break
    }
    out.push(...groups.map((g, i) => (i < groups.length - 1 ? g | 0x80 : g)))
  }
  return tlv(0x06, Buffer.from(out))
}

/** UTCTime through 2049, GeneralizedTime after, as RFC 5280 4.1.2.5 requires. */
function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z')
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2))) : tlv(0x18, Buffer.from(iso))
}

const OID = {
  ecdsaSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  subjectKeyId: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyId: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
}

const name = (cn: string) => seq(set(seq(oid(OID.commonName), utf8(cn))))
const extension = (id: string, critical: boolean, value: Buffer) => seq(oid(id), ...(critical ? [bool(true)] : []), octets(value))

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number))
  // IPv6: expand "::" and write eight 16-bit groups.
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined]
  const h = head ? head.split(':') : []
  const t = tail ? tail.split(':') : []
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t]
  return Buffer.concat(groups.map((g) => Buffer.from(g.padStart(4, '0'), 'hex')))
}

/** SHA-1 of the subjectPublicKey bits: RFC 5280 4.2.1.2's method (1), as OpenSSL computes it. */
function keyId(spkiDer: Buffer): Buffer {
  // The SPKI is SEQUENCE { AlgorithmIdentifier, BIT STRING }: the key bits are the BIT STRING's
  // content after its unused-bits byte. For P-256 the header lengths are all short-form.
  const algLen = spkiDer[3]!
  const bitString = spkiDer.subarray(4 + algLen)
  return createHash('sha1').update(bitString.subarray(3)).digest()
}

export interface CertificateRequest {
  /** Subject common name (informational: clients check the SANs). */
  commonName: string
  publicKey: KeyObject
  /** The issuer's name and key; absent for a self-signed CA. */
  issuer?: {commonName: string; publicKey: KeyObject; privateKey: KeyObject}
  /** The key that signs when self-signed. */
  privateKey?: KeyObject
  notBefore: Date
  notAfter: Date
  /** A CA certificate (may sign serving certificates, path length 0) or a TLS server certificate. */
  ca: boolean
  /** DNS names and IP addresses (server certificates). */
  hosts?: string[]
}

/** DER of a signed certificate. */
export function issueCertificate(r: CertificateRequest): Buffer {
  const spki = r.publicKey.export({type: 'spki', format: 'der'})
  const issuerSpki = (r.issuer?.publicKey ?? r.publicKey).export({type: 'spki', format: 'der'})
  const signer = r.issuer?.privateKey ?? r.privateKey
  if (!signer) throw new Error('issueCertificate: a self-signed certificate needs privateKey')
  const serial = randomBytes(16)
  serial[0] = (serial[0]! & 0x7f) | 0x01 // positive and non-zero, 16 bytes (RFC 5280: at most 20)
  const extensions = [
    extension(OID.basicConstraints, true, r.ca ? seq(bool(true), uint(Buffer.from([0]))) : seq()),
    // keyCertSign + cRLSign (bits 5, 6) for a CA; digitalSignature (bit 0) for an ECDSA server.
    extension(OID.keyUsage, true, r.ca ? tlv(0x03, Buffer.from([1, 0x06])) : tlv(0x03, Buffer.from([7, 0x80]))),
    ...(r.ca ? [] : [extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth)))]),
    ...(r.hosts?.length
      ? [extension(OID.subjectAltName, false, seq(...r.hosts.map((h) => (isIP(h) ? tlv(0x87, ipBytes(h)) : tlv(0x82, Buffer.from(h, 'ascii'))))))]
      : []),
    extension(OID.subjectKeyId, false, octets(keyId(spki))),
    extension(OID.authorityKeyId, false, seq(tlv(0x80, keyId(issuerSpki)))),
  ]
  const alg = seq(oid(OID.ecdsaSha256))
  const tbs = seq(
    explicit(0, uint(Buffer.from([2]))),
    uint(serial),
    alg,
    name(r.issuer?.commonName ?? r.commonName),
    seq(time(r.notBefore), time(r.notAfter)),
    name(r.commonName),
    spki,
    explicit(3, seq(...extensions)),
  )
  return seq(tbs, alg, bits(sign('sha256', tbs, signer)))
}

export const toPem = (der: Buffer): string => `-----BEGIN CERTIFICATE-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`
