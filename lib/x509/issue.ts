import {createHash, randomBytes, sign, X509Certificate, type KeyObject} from 'node:crypto'
import net from 'node:net'
import {bitString, bool, children, ECDSA_SHA256, explicit, implicit, int, name, octets, oid, pem, read, seq, spkiKeyBits, time} from './der.js'

// Leaf certificates signed by a cluster CA: the broker's (clientAuth, and serverAuth for the
// wrappers it serves) from its CSR, and the bridge's serving certificate for the tunnel.

export interface LeafRequest {
  ca: {certPem: string; key: KeyObject}
  /** DER SubjectPublicKeyInfo of the leaf's key. */
  spki: Buffer
  commonName: string
  usage: ('serverAuth' | 'clientAuth')[]
  dnsNames?: string[]
  ipAddresses?: string[]
  days: number
  now?: Date
}

export interface IssuedLeaf {
  certPem: string
  /** Hex, as X509Certificate.serialNumber prints it (upper case). */
  serial: string
  notAfter: string
}

const EKU = {serverAuth: '1.3.6.1.5.5.7.3.1', clientAuth: '1.3.6.1.5.5.7.3.2'}

export function issueLeaf(r: LeafRequest): IssuedLeaf {
  const caCert = new X509Certificate(r.ca.certPem)
  // The issuer name is copied from the CA's subject as it is encoded there, so chains match bytewise.
  const caTbs = children(read(caCert.raw).body)[0]!
  const [, , , , , caSubject, caSpki] = children(caTbs.body)
  const caSki = createHash('sha1').update(spkiKeyBits(caSpki!.raw)).digest()
  const now = r.now ?? new Date()
  const notBefore = new Date(now.getTime() - 5 * 60_000)
  const notAfter = new Date(now.getTime() + r.days * 86_400_000)
  const serial = randomBytes(16)
  serial[0]! &= 0x7f
  serial[0]! |= 0x01
  const san = [...(r.dnsNames ?? []).map((d) => implicit(2, Buffer.from(d, 'ascii'))), ...(r.ipAddresses ?? []).map((ip) => implicit(7, ipBytes(ip)))]
  const extensions = [
    seq(oid('2.5.29.19'), bool(true), octets(seq())),
    seq(oid('2.5.29.15'), bool(true), octets(bitString(Buffer.from([0x80]), 7))),
    seq(oid('2.5.29.37'), octets(seq(...r.usage.map((u) => oid(EKU[u]))))),
    seq(oid('2.5.29.14'), octets(octets(createHash('sha1').update(spkiKeyBits(r.spki)).digest()))),
    seq(oid('2.5.29.35'), octets(seq(implicit(0, caSki)))),
    ...(san.length ? [seq(oid('2.5.29.17'), octets(seq(...san)))] : []),
  ]
  const tbs = seq(explicit(0, int(Buffer.from([2]))), int(serial), ECDSA_SHA256(), caSubject!.raw, seq(time(notBefore), time(notAfter)), name(r.commonName), r.spki, explicit(3, seq(...extensions)))
  const der = seq(tbs, ECDSA_SHA256(), bitString(sign('sha256', tbs, r.ca.key), 0))
  const cert = new X509Certificate(der)
  if (!cert.verify(caCert.publicKey)) throw new Error('the issued certificate does not verify against its CA')
  return {certPem: pem('CERTIFICATE', der), serial: cert.serialNumber, notAfter: notAfter.toISOString()}
}

function ipBytes(ip: string): Buffer {
  if (net.isIPv4(ip)) return Buffer.from(ip.split('.').map(Number))
  if (!net.isIPv6(ip)) throw new Error(`not an IP address: ${ip}`)
  const [head, tail = ''] = ip.split('::')
  const h = head ? head.split(':') : []
  const t = ip.includes('::') ? (tail ? tail.split(':') : []) : []
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t]
  return Buffer.from(groups.flatMap((g: string) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]))
}
