// The DER encoder/reader, CSRs and issued leaves, checked by the independent implementations at
// hand: node:crypto's X.509 parser, Debian's openssl, and a real TLS 1.3 handshake both ways.
import t from 'tap'
import {execFileSync} from 'node:child_process'
import {generateKeyPairSync, randomBytes, X509Certificate} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import tls from 'node:tls'
import {generateClusterCa} from '../../../lib/openbao/cluster-ca.js'
import {checkCsr, makeCsr} from '../../../lib/x509/csr.js'
import {issueLeaf} from '../../../lib/x509/issue.js'
import {read} from '../../../lib/x509/der.js'

const dir = mkdtempSync(join(tmpdir(), 'x509-test-'))
t.teardown(() => rmSync(dir, {recursive: true, force: true}))
const ca = generateClusterCa('cloudtaser cluster CA abcd1234')
const caX = new X509Certificate(ca.certPem)
const p256 = () => generateKeyPairSync('ec', {namedCurve: 'P-256'})

t.test('a CSR made here verifies in openssl and in checkCsr; the leaf chains to the CA in openssl', async (t) => {
  const {publicKey, privateKey} = p256()
  const csr = makeCsr(privateKey, publicKey, 'ignored')
  writeFileSync(join(dir, 'csr.pem'), csr)
  t.match(execFileSync('openssl', ['req', '-verify', '-noout', '-in', join(dir, 'csr.pem')], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']}), '')
  const checked = checkCsr(csr)
  t.equal(checked.keyType, 'p256')
  const leaf = issueLeaf({ca: {certPem: ca.certPem, key: ca.privateKey}, spki: checked.spki, commonName: 'cloudtaser-broker-abcd1234', usage: ['clientAuth', 'serverAuth'], dnsNames: ['broker.cloudtaser-system.svc'], ipAddresses: ['127.0.0.1', 'fd00::1'], days: 90})
  const x = new X509Certificate(leaf.certPem)
  t.ok(x.checkIssued(caX) && x.verify(caX.publicKey), 'issued by the CA')
  t.equal(x.subjectAltName, 'DNS:broker.cloudtaser-system.svc, IP Address:127.0.0.1, IP Address:FD00:0:0:0:0:0:0:1')
  t.equal(x.ca, false)
  t.same(x.keyUsage, ['1.3.6.1.5.5.7.3.2', '1.3.6.1.5.5.7.3.1'])
  t.equal(x.serialNumber, leaf.serial)
  writeFileSync(join(dir, 'ca.pem'), ca.certPem)
  writeFileSync(join(dir, 'leaf.pem'), leaf.certPem)
  for (const purpose of ['sslclient', 'sslserver']) t.match(execFileSync('openssl', ['verify', '-CAfile', join(dir, 'ca.pem'), '-purpose', purpose, join(dir, 'leaf.pem')], {encoding: 'utf8'}), /OK/)
})

t.test('Ed25519 CSRs are accepted; other keys, bad signatures and garbage are refused with a reason', async (t) => {
  const ed = generateKeyPairSync('ed25519')
  t.equal(checkCsr(makeCsr(ed.privateKey, ed.publicKey, 'x')).keyType, 'ed25519')
  const p384 = generateKeyPairSync('ec', {namedCurve: 'P-384'})
  t.throws(() => checkCsr(makeCsr(p384.privateKey, p384.publicKey, 'x')), /ec secp384r1 is not accepted/)
  // A CSR whose signature was made by another key: no proof of possession.
  const a = p256()
  const b = p256()
  const mine = makeCsr(a.privateKey, a.publicKey, 'x')
  const theirs = makeCsr(b.privateKey, a.publicKey, 'x')
  t.ok(checkCsr(mine))
  t.throws(() => checkCsr(theirs), /self-signature does not verify/)
  t.throws(() => checkCsr('hello'), /no PEM CERTIFICATE REQUEST/)
  t.throws(() => checkCsr(`-----BEGIN CERTIFICATE REQUEST-----\n${randomBytes(64).toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`))
})

t.test('the DER reader refuses every truncation and random input without hanging', async (t) => {
  const {publicKey, privateKey} = p256()
  const der = Buffer.from(makeCsr(privateKey, publicKey, 'x').split('\n').slice(1, -2).join(''), 'base64')
  const accepted = [...Array(der.length).keys()].filter((n) => {
    try {
      return read(der.subarray(0, n)).raw.length === der.length
    } catch {
      return false
    }
  })
  t.same(accepted, [], 'no truncation reads as the whole request')
  let refused = 0
  for (let i = 0; i < 2000; i++) {
    const junk = randomBytes(1 + (i % 200))
    try {
      checkCsr(`-----BEGIN CERTIFICATE REQUEST-----\n${junk.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`)
    } catch {
      refused++
    }
  }
  t.equal(refused, 2000, 'random bytes never pass as a CSR')
})

t.test('a TLS 1.3 handshake with both leaves, each side requiring the CA', async (t) => {
  const client = p256()
  const server = p256()
  const pem = (k: typeof client.privateKey) => k.export({type: 'pkcs8', format: 'pem'}) as string
  const cLeaf = issueLeaf({ca: {certPem: ca.certPem, key: ca.privateKey}, spki: client.publicKey.export({type: 'spki', format: 'der'}), commonName: 'broker', usage: ['clientAuth'], days: 1})
  const sLeaf = issueLeaf({ca: {certPem: ca.certPem, key: ca.privateKey}, spki: server.publicKey.export({type: 'spki', format: 'der'}), commonName: 'bridge', usage: ['serverAuth'], days: 1})
  const srv = tls.createServer({key: pem(server.privateKey), cert: sLeaf.certPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3'}, (s) => s.end('ok'))
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  t.teardown(() => srv.close())
  const got = await new Promise<string>((resolve, reject) => {
    const c = tls.connect({host: '127.0.0.1', port: (srv.address() as {port: number}).port, key: pem(client.privateKey), cert: cLeaf.certPem, ca: ca.certPem, checkServerIdentity: () => undefined})
    let s = ''
    c.on('data', (d: Buffer) => (s += d.toString()))
    c.on('end', () => resolve(s))
    c.on('error', reject)
  })
  t.equal(got, 'ok')
})
