// The certificates the operator issues with node:crypto alone, checked by Node's own X.509
// parser, by the openssl command (an independent implementation), and by a real TLS handshake.
// (The Go TLS client of the kube-apiserver accepting them is covered by webhook.test.ts.)
import t from 'tap'
import {execFileSync} from 'node:child_process'
import {X509Certificate} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, request} from 'node:https'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {coversHosts, generateServingPki, issueServing, keyMatches, newCa, notAfterOf} from '../../../runtime/operator/pki.js'

const HOSTS = ['cloudtaser-operator.cloudtaser-system.svc', 'cloudtaser-operator', '127.0.0.1', '::1']
const HOUR = 3600_000
const ca = newCa(24 * HOUR)
const serving = issueServing(ca, HOSTS, 2 * HOUR)

t.test('a CA and a serving certificate as Node parses them', async (t) => {
  const c = new X509Certificate(ca.certPem)
  const s = new X509Certificate(serving.certPem)
  t.ok(c.ca, 'CA flag')
  t.notOk(s.ca, 'serving certificate is no CA')
  t.ok(c.verify(c.publicKey), 'CA self-signed')
  t.ok(s.verify(c.publicKey), 'serving signed by the CA')
  t.ok(s.checkIssued(c), 'issuer name and key id match')
  t.ok(coversHosts(s, HOSTS))
  t.notOk(coversHosts(s, ['other.example']))
  t.equal(s.keyUsage?.includes('1.3.6.1.5.5.7.3.1'), true, 'serverAuth')
  const life = notAfterOf(s) - Date.now()
  t.ok(life > 1.9 * HOUR && life <= 2 * HOUR, `serving lifetime ${life} ms`)
  t.ok(keyMatches(serving))
  t.notOk(keyMatches({certPem: serving.certPem, keyPem: ca.keyPem}), 'a foreign key is noticed')
  t.not(new X509Certificate(issueServing(ca, HOSTS, HOUR).certPem).serialNumber, s.serialNumber, 'random serials')
})

t.test('a serving certificate never outlives its CA', async (t) => {
  const short = newCa(HOUR)
  const s = new X509Certificate(issueServing(short, HOSTS, 10 * HOUR).certPem)
  t.equal(notAfterOf(s), notAfterOf(new X509Certificate(short.certPem)))
})

t.test('openssl verifies the chain, the purpose and every host name', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cloudtaser-pki-test-'))
  t.teardown(() => rmSync(dir, {recursive: true, force: true}))
  writeFileSync(join(dir, 'ca.pem'), ca.certPem)
  writeFileSync(join(dir, 'tls.pem'), serving.certPem)
  const verify = (...extra: string[]) => execFileSync('openssl', ['verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', join(dir, 'ca.pem'), ...extra, join(dir, 'tls.pem')], {encoding: 'utf8', stdio: 'pipe'})
  t.match(verify(), /tls\.pem: OK/)
  t.match(verify('-verify_hostname', HOSTS[0]!), /OK/)
  t.match(verify('-verify_ip', '::1'), /OK/)
  t.throws(() => verify('-verify_hostname', 'evil.example'), 'a host outside the SANs is refused')
  const text = execFileSync('openssl', ['x509', '-in', join(dir, 'ca.pem'), '-noout', '-text'], {encoding: 'utf8'})
  t.match(text, /CA:TRUE, pathlen:0/)
  t.match(text, /Certificate Sign, CRL Sign/)
})

t.test('TLS: a client trusting only the CA connects by IP and by name', async (t) => {
  const pki = generateServingPki(['localhost', '127.0.0.1'])
  const server = createServer({cert: pki.certPem, key: pki.keyPem}, (_req, res) => res.end('ok'))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => server.close())
  const port = (server.address() as AddressInfo).port
  const get = (host: string, ca: string) =>
    new Promise<string>((resolve, reject) => {
      request({host: '127.0.0.1', servername: host === '127.0.0.1' ? undefined : host, port, ca, agent: false}, (res) => {
        let b = ''
        res.on('data', (c: Buffer) => (b += c))
        res.on('end', () => resolve(b))
      })
        .on('error', reject)
        .end()
    })
  t.equal(await get('127.0.0.1', pki.caPem), 'ok')
  t.equal(await get('localhost', pki.caPem), 'ok')
  await t.rejects(get('127.0.0.1', newCa(HOUR).certPem), /self-signed|unable to verify|unable to get/i, 'another CA is not trusted')
})
