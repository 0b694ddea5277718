import {createHash, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject} from 'node:crypto'
import {bitString, bool, ECDSA_SHA256, explicit, int, name as dn, octets, oid, pem, seq, spkiKeyBits, time} from '../x509/der.js'

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
  const name = dn(commonName)
  const ecdsaSha256 = ECDSA_SHA256()
  const ski = createHash('sha1').update(spkiKeyBits(spki)).digest()
  const extensions = seq(
    seq(oid('2.5.29.19'), bool(true), octets(seq(bool(true), int(Buffer.from([0]))))),
    seq(oid('2.5.29.15'), bool(true), octets(bitString(Buffer.from([0x06]), 1))),
    seq(oid('2.5.29.14'), octets(octets(ski))),
  )
  const serial = randomBytes(16)
  serial[0]! &= 0x7f
  const tbs = seq(explicit(0, int(Buffer.from([2]))), int(serial), ecdsaSha256, name, seq(time(notBefore), time(notAfter)), name, spki, explicit(3, extensions))
  const signature = sign('sha256', tbs, privateKey)
  const certDer = seq(tbs, ecdsaSha256, bitString(signature, 0))
  // Parsing and verifying with node:crypto catches an encoding mistake here, not at the bridge.
  const cert = new X509Certificate(certDer)
  if (!cert.ca || !cert.verify(publicKey)) throw new Error('the generated CA certificate does not verify')
  return {
    certPem: pem('CERTIFICATE', certDer),
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
