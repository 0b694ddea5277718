import {createPrivateKey, createPublicKey, generateKeyPairSync, X509Certificate} from 'node:crypto'
import {isIP} from 'node:net'
import {issueCertificate, toPem} from './x509.js'

/** A certificate and its private key, PEM. */
export interface KeyPair {
  certPem: string
  keyPem: string
}

export interface ServingPki {
  caPem: string
  certPem: string
  keyPem: string
}

export const CA_COMMON_NAME = 'cloudtaser-operator-ca'
/** Certificates start a little in the past: clocks of the apiserver and the operator may differ. */
export const BACKDATE_MS = 5 * 60_000

const newKey = () => generateKeyPairSync('ec', {namedCurve: 'prime256v1'})

/** A new self-signed CA (EC P-256) that may sign serving certificates only (path length 0). */
export function newCa(ttlMs: number, now = new Date()): KeyPair {
  const {publicKey, privateKey} = newKey()
  const der = issueCertificate({
    commonName: CA_COMMON_NAME,
    publicKey,
    privateKey,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + ttlMs),
    ca: true,
  })
  return {certPem: toPem(der), keyPem: privateKey.export({type: 'pkcs8', format: 'pem'}) as string}
}

/** A serving certificate for `hosts` signed by `ca`; it never outlives the CA. */
export function issueServing(ca: KeyPair, hosts: string[], ttlMs: number, now = new Date()): KeyPair {
  const caCert = new X509Certificate(ca.certPem)
  const {publicKey, privateKey} = newKey()
  const notAfter = Math.min(now.getTime() + ttlMs, notAfterOf(caCert))
  const der = issueCertificate({
    commonName: hosts[0] ?? 'cloudtaser-operator',
    publicKey,
    issuer: {commonName: CA_COMMON_NAME, publicKey: caCert.publicKey, privateKey: createPrivateKey(ca.keyPem)},
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(notAfter),
    ca: false,
    hosts,
  })
  return {certPem: toPem(der), keyPem: privateKey.export({type: 'pkcs8', format: 'pem'}) as string}
}

/**
 * A fresh CA and serving certificate in memory (the single-replica `--secret-backend memory`):
 * nothing is written anywhere, a restart makes a new CA and the operator patches caBundle.
 */
export function generateServingPki(hosts: string[], days = 365): ServingPki {
  const ttl = days * 24 * 3600_000
  const ca = newCa(ttl)
  const serving = issueServing(ca, hosts, ttl)
  return {caPem: ca.certPem, certPem: serving.certPem, keyPem: serving.keyPem}
}

export const notAfterOf = (c: X509Certificate): number => new Date(c.validTo).getTime()
export const notBeforeOf = (c: X509Certificate): number => new Date(c.validFrom).getTime()

/** Does the private key belong to the certificate? */
export function keyMatches(pair: KeyPair): boolean {
  try {
    const fromKey = createPublicKey(createPrivateKey(pair.keyPem)).export({type: 'spki', format: 'der'})
    const fromCert = new X509Certificate(pair.certPem).publicKey.export({type: 'spki', format: 'der'})
    return fromKey.equals(fromCert)
  } catch {
    return false
  }
}

/** Whether the certificate is valid for every host (DNS name or IP). */
export function coversHosts(cert: X509Certificate, hosts: string[]): boolean {
  return hosts.every((h) => (isIP(h) ? cert.checkIP(h) !== undefined : cert.checkHost(h, {wildcards: false}) !== undefined))
}
