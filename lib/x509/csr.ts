import {createPublicKey, sign, verify, type KeyObject} from 'node:crypto'
import {bitString, children, ECDSA_SHA256, implicit, int, name, oid, pem, read, seq, unpem} from './der.js'

// PKCS#10 certificate requests (RFC 2986): the broker makes one for the key it generated in
// memory, and the bridge checks it. Only the public key and proof of possession matter; the
// bridge sets the subject and every extension itself (docs/register.md).

const ED25519 = '1.3.101.112'

/** A CSR for `key` (P-256 or Ed25519), subject O=cloudtaser, CN=<commonName>, no attributes. */
export function makeCsr(key: KeyObject, publicKey: KeyObject, commonName: string): string {
  const spki = publicKey.export({type: 'spki', format: 'der'})
  const info = seq(int(Buffer.from([0])), name(commonName), spki, implicit(0, Buffer.alloc(0)).fill(0xa0, 0, 1))
  const ed = key.asymmetricKeyType === 'ed25519'
  const alg = ed ? seq(oid(ED25519)) : ECDSA_SHA256()
  const signature = sign(ed ? null : 'sha256', info, key)
  return pem('CERTIFICATE REQUEST', seq(info, alg, bitString(signature, 0)))
}

export interface CheckedCsr {
  /** DER SubjectPublicKeyInfo of the requested key. */
  spki: Buffer
  publicKey: KeyObject
  keyType: 'p256' | 'ed25519'
}

/**
 * Parses a CSR and checks its self-signature and key type. Throws with a reason a log line can
 * carry: the input comes from whoever reached the init room.
 */
export function checkCsr(text: string): CheckedCsr {
  const der = unpem('CERTIFICATE REQUEST', text)
  const outer = read(der)
  if (outer.tag !== 0x30 || outer.raw.length !== der.length) throw new Error('not a DER SEQUENCE')
  const [info, , sig] = children(outer.body)
  if (!info || info.tag !== 0x30 || !sig || sig.tag !== 0x03) throw new Error('not a PKCS#10 CertificationRequest')
  const [version, , spkiNode] = children(info.body)
  if (!version || version.tag !== 0x02 || !spkiNode || spkiNode.tag !== 0x30) throw new Error('not a PKCS#10 CertificationRequestInfo')
  let publicKey: KeyObject
  try {
    publicKey = createPublicKey({key: spkiNode.raw, format: 'der', type: 'spki'})
  } catch (err) {
    throw new Error(`unreadable public key: ${(err as Error).message}`)
  }
  const type = publicKey.asymmetricKeyType
  const curve = publicKey.asymmetricKeyDetails?.namedCurve
  const keyType = type === 'ed25519' ? 'ed25519' : type === 'ec' && curve === 'prime256v1' ? 'p256' : undefined
  if (!keyType) throw new Error(`key type ${type}${curve ? ` ${curve}` : ''} is not accepted (P-256 or Ed25519)`)
  const ok = verify(keyType === 'ed25519' ? null : 'sha256', info.raw, publicKey, sig.body.subarray(1))
  if (!ok) throw new Error('the self-signature does not verify (no proof of possession of the key)')
  return {spki: Buffer.from(spkiNode.raw), publicKey, keyType}
}
