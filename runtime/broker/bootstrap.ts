// The init room, broker side: make a key in memory, send a CSR, get the certificate. The key
// never leaves this process. With a pinned CA hash (register's operationalInfoHash) a fake bridge
// or a beacon in the middle cannot hand us a CA of its own; without one the hash is logged for an
// administrator to compare with register's output. A restarted broker renews the same way, adding
// a token of its own ServiceAccount as proof, sent only after the bridge's chain matched the pin.
import {createHash, generateKeyPairSync, X509Certificate} from 'node:crypto'
import tls from 'node:tls'
import {CloudtaserError, ExitCode} from '../../lib/errors.js'
import {initInfoHash} from '../../lib/infohash.js'
import {makeCsr} from '../../lib/x509/csr.js'
import {dialBeacon, type BeaconDialOptions} from '../beacon/client.js'
import type {Logger} from '../beacon/log.js'
import {readLine, writeLine, type BootstrapAnswer, type BootstrapRequest} from '../tunnel/wire.js'

export interface BrokerIdentity {
  /** PKCS#8 PEM, in memory only. */
  key: Buffer
  cert: string
  ca: string
  caSha256: string
  serial: string
}

export interface BootstrapOptions {
  beacon: Pick<BeaconDialOptions, 'address' | 'tls' | 'lookup' | 'dial'>
  fingerprint: string
  /** Hex SHA-256 of the CA certificate's DER, from `source register`. */
  caPin?: string
  dnsNames: string[]
  ipAddresses: string[]
  logger: Logger
  signal?: AbortSignal
  /** A fresh ServiceAccount token (audience brokerAudience(fp)) for a renewal; needs caPin. */
  proof?: () => Promise<string>
}

/** `nothingSent`: refused before the CSR left, so nothing was used up and dialling again is safe. */
export const bootstrapError = (code: 'BROKER_BOOTSTRAP_REFUSED' | 'BROKER_CA_PIN_MISMATCH' | 'BROKER_BOOTSTRAP_FAILED', message: string, hint?: string, nothingSent = false) =>
  new CloudtaserError(code, message, {exitCode: code === 'BROKER_BOOTSTRAP_FAILED' ? ExitCode.UNAVAILABLE : ExitCode.AUTH, hint, details: nothingSent ? {nothingSent} : undefined})

export async function bootstrapBroker(o: BootstrapOptions): Promise<BrokerIdentity> {
  const {publicKey, privateKey} = generateKeyPairSync('ec', {namedCurve: 'P-256'})
  const raw = await (o.beacon.dial ?? dialBeacon)({...o.beacon, role: 'broker', infoHash: initInfoHash(o.fingerprint), signal: o.signal, onWaiting: () => o.logger('info', 'bootstrap_waiting', {fingerprint: o.fingerprint, hint: 'waiting in the init room for the bridge; the cluster must be registered (`cloudtaser source register`)'})})
  // Server authentication is checked by hand below, against the CA the answer carries and the pin.
  const s = tls.connect({socket: raw, minVersion: 'TLSv1.3', rejectUnauthorized: false})
  try {
    await new Promise<void>((resolve, reject) => {
      s.once('secureConnect', () => resolve())
      s.once('error', reject)
    })
    const req: BootstrapRequest = {v: 1, type: 'bootstrap', fingerprint: o.fingerprint, csr: makeCsr(privateKey, publicKey, `cloudtaser-broker-${o.fingerprint.slice(0, 8)}`), dnsNames: o.dnsNames, ipAddresses: o.ipAddresses}
    if (o.caPin) {
      // Checked before anything is sent: the renewal token is a credential only the bridge the pin
      // names may see, and a peer that is not that bridge (anyone can dial a reverse-connect
      // endpoint) must not make the registered bridge's one bootstrap go to waste.
      const chain = s.getPeerCertificate(true)
      const caRaw = chain.issuerCertificate?.raw
      if (!caRaw || createHash('sha256').update(caRaw).digest('hex') !== o.caPin.toLowerCase() || !new X509Certificate(chain.raw).verify(new X509Certificate(caRaw).publicKey))
        throw bootstrapError('BROKER_CA_PIN_MISMATCH', `the peer in the init room does not present the pinned CA; ${o.proof ? 'the renewal proof was not sent' : 'nothing was sent'}`, 'Compare --ca-sha256 with `cloudtaser source register` output (operationalInfoHash).', true)
      if (o.proof) req.proof = await o.proof()
    }
    await writeLine(s, req)
    const answer = await readLine<BootstrapAnswer>(s).catch((err: Error) => {
      throw bootstrapError('BROKER_BOOTSTRAP_FAILED', `no bootstrap answer from the bridge: ${err.message}`)
    })
    if (!answer.ok) throw bootstrapError('BROKER_BOOTSTRAP_REFUSED', `the bridge refused the bootstrap: ${answer.code}: ${answer.message}`, answer.code === 'BRIDGE_ALREADY_INITIALIZED' ? 'Someone bootstrapped this cluster already. If it was not this broker, run `cloudtaser source register --rotate-ca` and restart the broker.' : undefined)
    const ca = new X509Certificate(answer.caCertificate)
    const caSha256 = createHash('sha256').update(ca.raw).digest('hex')
    if (o.caPin && o.caPin.toLowerCase() !== caSha256)
      throw bootstrapError('BROKER_CA_PIN_MISMATCH', `the bridge's CA has hash ${caSha256}, not the pinned ${o.caPin}`, 'Compare with `cloudtaser source register` output (operationalInfoHash); a mismatch means a bridge or beacon is not the one you registered with.')
    const peer = new X509Certificate(s.getPeerCertificate(false).raw)
    const cert = new X509Certificate(answer.certificate)
    if (!peer.verify(ca.publicKey) || !cert.verify(ca.publicKey)) throw bootstrapError('BROKER_CA_PIN_MISMATCH', 'the bridge\'s certificates are not signed by the CA it sent')
    if (!cert.publicKey.export({type: 'spki', format: 'der'}).equals(publicKey.export({type: 'spki', format: 'der'}))) throw bootstrapError('BROKER_BOOTSTRAP_FAILED', 'the certificate is not for the key this broker made')
    o.logger(o.caPin ? 'info' : 'warn', 'bootstrap_done', {fingerprint: o.fingerprint, caSha256, serial: cert.serialNumber, pinned: Boolean(o.caPin), ...(o.caPin ? {} : {hint: 'no CA pin: compare caSha256 with register\'s operationalInfoHash'})})
    return {key: privateKey.export({type: 'pkcs8', format: 'pem'}) as Buffer, cert: answer.certificate, ca: answer.caCertificate, caSha256, serial: cert.serialNumber}
  } finally {
    s.destroy()
  }
}
