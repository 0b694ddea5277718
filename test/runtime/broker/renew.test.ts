// When a running broker renews: two thirds into its certificate's life, however far away that is
// (a 60-day wait overflows setTimeout, which then fires at once), and again after a failure.
import t from 'tap'
import {generateKeyPairSync, X509Certificate} from 'node:crypto'
import {generateClusterCa} from '../../../lib/openbao/cluster-ca.js'
import {issueLeaf} from '../../../lib/x509/issue.js'
import type {Logger} from '../../../runtime/beacon/log.js'
import {keepRenewed, renewalDue} from '../../../runtime/broker/renew.js'

const ca = generateClusterCa('renew test CA')
const leaf = (days: number) => issueLeaf({ca: {certPem: ca.certPem, key: ca.privateKey}, spki: generateKeyPairSync('ec', {namedCurve: 'P-256'}).publicKey.export({type: 'spki', format: 'der'}), commonName: 'cloudtaser-broker-x', usage: ['clientAuth', 'serverAuth'], days}).certPem

t.test('due at two thirds of the certificate\'s life', async (t) => {
  const pem = leaf(90)
  const c = new X509Certificate(pem)
  const from = Date.parse(c.validFrom)
  const to = Date.parse(c.validTo)
  t.equal(renewalDue(pem), from + ((to - from) * 2) / 3)
  t.ok(renewalDue(pem) - Date.now() > 50 * 86_400_000, 'a 90-day certificate renews about 60 days on')
})

t.test('a renewal 60 days away does not fire now; a failed renewal is logged and retried', async (t) => {
  const lines: string[] = []
  const logger: Logger = (_level, event) => void lines.push(event)
  const ac = new AbortController()
  let calls = 0
  keepRenewed({cert: leaf(90), renew: async () => (calls++, leaf(90)), signal: ac.signal, logger})
  await new Promise((r) => setTimeout(r, 300))
  t.equal(calls, 0, 'no renewal before it is due')
  t.same(lines, ['renewal_scheduled'])
  ac.abort()

  const ac2 = new AbortController()
  let attempts = 0
  keepRenewed({cert: leaf(90), afterMs: 10, renew: async () => { attempts++; throw new Error('bridge away') }, signal: ac2.signal, logger})
  await new Promise((r) => setTimeout(r, 200))
  t.equal(attempts, 1, 'tried once, then waits a minute before the next try')
  t.ok(lines.includes('renewal_failed'))
  ac2.abort()
})
