// source register / deregister without a server: the fingerprint input, the layout, the bridge
// policy, the in-memory CA, and the pure (layout, observed) -> actions transforms.
import t from 'tap'
import {execFileSync} from 'node:child_process'
import {createHash, createPrivateKey, X509Certificate} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {initInfoHash, operationalInfoHash} from '../../../lib/infohash.js'
import {summarize} from '../../../lib/openbao/actions.js'
import {generateClusterCa, privateKeyPemBytes} from '../../../lib/openbao/cluster-ca.js'
import {parseFingerprint, resolveClusterIdentity} from '../../../lib/openbao/cluster-identity.js'
import {planDeregister} from '../../../lib/openbao/deregister.js'
import {planRegister} from '../../../lib/openbao/register.js'
import {bridgePolicy, initHashHex, namespacesUnsupported, registrationLayout, type Observed} from '../../../lib/openbao/registration.js'
import {renderPlan} from '../../../lib/plan/io.js'
import {labPlan} from './fixtures.js'

const FP = '0ad50c05-1153-4508-9237-4cb2912e2c23'
const ns = registrationLayout(FP, {namespaces: true})
const flat = registrationLayout(FP, {namespaces: false})
const kinds = (a: {resource: string; kind: string}[]) => a.map((x) => `${x.resource}:${x.kind}`)
const nothing: Observed = {registeredVersion: 0, cas: []}
const CA_HASH = 'a'.repeat(64)
/** What a finished registration looks like to observeRegistration. */
const registered = (l = ns): Observed => ({
  parentNamespace: true,
  clusterNamespace: l.namespace ? {fingerprint: FP, managed: true, tainted: false} : undefined,
  mount: {type: 'kv', version: '2', description: `cloudtaser: registration and bridge CA of cluster ${FP}`},
  cas: [{sha256: CA_HASH, live: true}],
  policy: bridgePolicy(l),
  registeredVersion: 1,
  registered: {fingerprint: FP, initInfoHash: initHashHex(FP), caCertSha256: CA_HASH},
})

t.test('fingerprint: UUID checked, upper case folded, clear usage errors', async (t) => {
  t.equal(parseFingerprint(` ${FP.toUpperCase()} `), FP)
  for (const bad of ['', 'kube-system', '0ad50c05-1153-4508-9237', `${FP}0`, FP.replace('0', 'g')]) {
    t.throws(() => parseFingerprint(bad), {code: 'BAD_FINGERPRINT', exitCode: 2, message: /is not a cluster fingerprint/}, JSON.stringify(bad))
  }
  await t.rejects(resolveClusterIdentity({}), {code: 'USAGE', exitCode: 2})
  const dir = mkdtempSync(join(tmpdir(), 'ct-register-'))
  t.teardown(() => rmSync(dir, {recursive: true, force: true}))
  const withFp = join(dir, 'plan.yaml')
  const p = labPlan()
  p.metadata.cluster = {name: 'prod-eu-1', fingerprint: FP}
  writeFileSync(withFp, renderPlan(p))
  const without = join(dir, 'nofp.yaml')
  writeFileSync(without, renderPlan(labPlan()))
  t.same(await resolveClusterIdentity({plan: withFp}), {fingerprint: FP, name: 'prod-eu-1', from: 'plan'})
  t.same(await resolveClusterIdentity({plan: withFp, fingerprint: FP.toUpperCase()}), {fingerprint: FP, name: 'prod-eu-1', from: 'plan'}, 'same cluster given twice')
  await t.rejects(resolveClusterIdentity({plan: without}), {code: 'PLAN_NO_FINGERPRINT', exitCode: 2})
  await t.rejects(resolveClusterIdentity({plan: withFp, fingerprint: '11111111-1153-4508-9237-4cb2912e2c23'}), {code: 'FINGERPRINT_MISMATCH', exitCode: 2})
})

t.test('layout: namespace mode and --no-namespace; the bridge policy grants exactly three paths', async (t) => {
  t.match(ns, {id: '0ad50c05', namespace: 'cloudtaser/0ad50c05', prefix: 'cloudtaser/0ad50c05/', mount: 'cloudtaser', policy: 'cloudtaser-bridge-0ad50c05'})
  t.match(flat, {namespace: undefined, prefix: '', mount: 'cloudtaser-0ad50c05', policy: 'cloudtaser-bridge-0ad50c05'})
  const text = bridgePolicy(ns)
  t.match(text, /^# managed-by: cloudtaser; component=bridge cluster=0ad50c05-/)
  const rules = [...text.matchAll(/path "([^"]+)" \{\n {2}capabilities = \[([^\]]*)\]/g)].map((m) => `${m[1]} ${m[2]}`)
  t.same(rules, [
    `cloudtaser/data/clusters/${FP}/registered "read"`,
    `cloudtaser/data/system/${FP}/ca/* "read"`,
    `cloudtaser/data/clusters/${FP}/initialized "create", "read"`,
  ])
  t.equal(text.split('*').length, 2, 'one glob: the cluster\'s own CA entries (named by their hash)')
  t.notMatch(text, /update|delete|metadata/, 'no way to alter or erase the registration')
})

t.test('info hashes: the beacon client\'s own derivation', async (t) => {
  t.equal(initHashHex(FP), initInfoHash(FP).toString('hex'))
  t.equal(initHashHex(FP), createHash('sha256').update(`cloudtaser-init:${FP}`).digest('hex'))
  const ca = generateClusterCa('test')
  t.equal(ca.certSha256, operationalInfoHash(ca.certDer).toString('hex'))
})

t.test('CA: a valid self-signed P-256 CA (node:crypto and openssl agree); the key exported as PEM bytes', async (t) => {
  const now = new Date('2026-01-01T00:00:00Z')
  const ca = generateClusterCa('cloudtaser cluster CA 0ad50c05', 3650, now)
  const x = new X509Certificate(ca.certPem)
  t.ok(x.ca)
  t.equal(x.subject, 'O=cloudtaser\nCN=cloudtaser cluster CA 0ad50c05')
  t.equal(x.issuer, x.subject)
  t.ok(x.checkIssued(x) && x.verify(x.publicKey))
  t.equal(x.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1')
  t.equal(new Date(x.validTo).toISOString(), '2035-12-30T00:00:00.000Z')
  t.equal(ca.notAfter, '2035-12-30T00:00:00.000Z')
  const late = generateClusterCa('late', 30, new Date('2049-12-20T00:00:00Z'))
  t.equal(new Date(new X509Certificate(late.certDer).validTo).toISOString(), '2050-01-19T00:00:00.000Z', 'GeneralizedTime from 2050')

  const dir = mkdtempSync(join(tmpdir(), 'ct-ca-'))
  t.teardown(() => rmSync(dir, {recursive: true, force: true}))
  writeFileSync(join(dir, 'ca.pem'), ca.certPem)
  const text = execFileSync('openssl', ['x509', '-in', join(dir, 'ca.pem'), '-noout', '-text'], {encoding: 'utf8'})
  t.match(text, /CA:TRUE, pathlen:0/)
  t.match(text, /Certificate Sign, CRL Sign/)
  t.match(text, /Subject Key Identifier/)
  t.match(execFileSync('openssl', ['verify', '-CAfile', join(dir, 'ca.pem'), '-check_ss_sig', join(dir, 'ca.pem')], {encoding: 'utf8'}), /OK/)
  const ski = execFileSync('openssl', ['x509', '-in', join(dir, 'ca.pem'), '-noout', '-ext', 'subjectKeyIdentifier'], {encoding: 'utf8'}).split('\n')[1]!.trim().replaceAll(':', '').toLowerCase()
  const pub = x.publicKey.export({type: 'spki', format: 'der'})
  t.equal(ski, createHash('sha1').update(pub.subarray(pub.length - 65)).digest('hex'), 'RFC 5280 key identifier')

  const pem = privateKeyPemBytes(ca.privateKey)
  t.match(pem.toString(), /^-----BEGIN PRIVATE KEY-----\n([A-Za-z0-9+/=]{64}\n)*[A-Za-z0-9+/=]{1,64}\n-----END PRIVATE KEY-----\n$/)
  t.ok(x.checkPrivateKey(createPrivateKey(pem)), 'the key is the certificate\'s')
  t.equal(pem.toString(), ca.privateKey.export({type: 'pkcs8', format: 'pem'}), 'same text as node:crypto\'s own PEM')
})

t.test('register: nothing there -> create everything, in dependency order', async (t) => {
  t.same(kinds(planRegister(ns, nothing)), ['bao-namespace:create', 'bao-namespace:create', 'kv-mount:create', 'ca:create', 'policy:create', 'record:create'])
  t.same(kinds(planRegister(ns, {...nothing, parentNamespace: true})), ['bao-namespace:unchanged', 'bao-namespace:create', 'kv-mount:create', 'ca:create', 'policy:create', 'record:create'])
  t.same(kinds(planRegister(flat, nothing)), ['kv-mount:create', 'ca:create', 'policy:create', 'record:create'])
})

t.test('register: a finished registration is unchanged, in both modes', async (t) => {
  const a = planRegister(ns, registered())
  t.same(summarize(a), {create: 0, update: 0, unchanged: 6, conflict: 0})
  t.same(summarize(planRegister(flat, registered(flat))), {create: 0, update: 0, unchanged: 4, conflict: 0})
})

t.test('register never re-keys a live registration on its own', async (t) => {
  const noCa = {...registered(), cas: []}
  t.match(planRegister(ns, noCa).find((a) => a.resource === 'ca'), {kind: 'conflict', name: `cloudtaser/0ad50c05/cloudtaser/system/${FP}/ca/${CA_HASH}`, reason: /registration's CA is missing; --rotate-ca/})
  const otherCa = {...registered(), cas: [{sha256: 'b'.repeat(64), live: true}]}
  t.match(planRegister(ns, otherCa).find((a) => a.resource === 'ca'), {kind: 'conflict'})
  const deletedCa = {...registered(), cas: [{sha256: CA_HASH, live: false}]}
  t.match(planRegister(ns, deletedCa).find((a) => a.resource === 'ca'), {kind: 'conflict'})

  const rotate = planRegister(ns, {...registered(), initialized: {version: 1}}, {rotateCa: true})
  t.same(kinds(rotate).slice(3), ['ca:create', 'ca:delete', 'policy:unchanged', 'record:update', 'record:delete'])
  t.match(rotate[3], {name: `cloudtaser/0ad50c05/cloudtaser/system/${FP}/ca/<new>`, reason: /rotated/})
  t.match(rotate[4], {name: `cloudtaser/0ad50c05/cloudtaser/system/${FP}/ca/${CA_HASH}`, reason: /replaced by the new CA/})
  t.match(rotate.at(-1), {name: `cloudtaser/0ad50c05/cloudtaser/clusters/${FP}/initialized`, reason: /bootstraps again/})

  const orphan = {...registered(), registered: undefined, registeredVersion: 3}
  t.same(kinds(planRegister(ns, orphan)).slice(3, 5), ['ca:create', 'ca:delete'], 'a CA no registration points at was never handed out: a fresh one, the old one removed')
  t.match(planRegister(ns, {...orphan, initialized: {version: 1}}).at(-1), {resource: 'record', kind: 'delete', name: /\/initialized$/, reason: /earlier registration/})
  const leftover = {...registered(), cas: [{sha256: CA_HASH, live: true}, {sha256: 'c'.repeat(64), live: true}]}
  const a = planRegister(ns, leftover)
  t.same(kinds(a).slice(3, 5), ['ca:unchanged', 'ca:delete'])
  t.match(a[4], {name: /\/ca\/c{64}$/, reason: /no registration uses it/})
})

t.test('register: objects cloudtaser did not make for this cluster are conflicts', async (t) => {
  const at = (o: Observed, l = ns) => planRegister(l, o)
  t.match(at({...nothing, parentNamespace: true, clusterNamespace: {managed: false, tainted: false}})[1], {kind: 'conflict', reason: /not created by cloudtaser/})
  t.match(at({...nothing, parentNamespace: true, clusterNamespace: {managed: true, fingerprint: '0ad50c05-0000-4000-8000-000000000000', tainted: false}})[1], {
    kind: 'conflict',
    reason: /belongs to cluster 0ad50c05-0000-.*--no-namespace/,
  })
  t.match(at({...nothing, parentNamespace: true, clusterNamespace: {managed: true, fingerprint: FP, tainted: true}})[1], {kind: 'conflict', reason: /being created or deleted/})
  t.match(at({...registered(), mount: {type: 'kv', version: '1'}}).find((a) => a.resource === 'kv-mount'), {kind: 'conflict', reason: /kv v1 mount/})
  t.match(at({...nothing, mount: {type: 'kv', version: '2', description: 'team secrets'}}, flat)[0], {kind: 'conflict', reason: /not created by cloudtaser for this cluster/})
  t.match(at({...registered(), policy: 'path "x" { capabilities = ["read"] }'}).find((a) => a.resource === 'policy'), {kind: 'conflict', reason: /not created by cloudtaser/})
  t.match(at({...registered(), policy: '# managed-by: cloudtaser; component=bridge cluster=old\n'}).find((a) => a.resource === 'policy'), {kind: 'conflict', reason: /for component=bridge cluster=old/})
  t.match(at({...registered(), policy: `${bridgePolicy(ns)}path "extra" { capabilities = ["read"] }\n`}).find((a) => a.resource === 'policy'), {kind: 'update', reason: 'paths differ'})
  t.match(at({...registered(), registered: {fingerprint: FP, initInfoHash: 'x', caCertSha256: CA_HASH}}).at(-1), {resource: 'record', kind: 'conflict'})
})

t.test('deregister: records only, or --purge; absent objects unchanged; foreign ones conflicts', async (t) => {
  t.same(kinds(planDeregister(ns, {...registered(), initialized: {version: 1}})), ['record:delete', 'record:delete'])
  t.same(kinds(planDeregister(ns, registered(), {purge: true})), ['record:delete', 'record:unchanged', 'bao-namespace:delete'])
  t.same(kinds(planDeregister(flat, registered(flat), {purge: true})), ['record:delete', 'record:unchanged', 'ca:delete', 'policy:delete', 'kv-mount:delete'])
  t.same(kinds(planDeregister(ns, nothing, {purge: true})), ['record:unchanged', 'record:unchanged', 'bao-namespace:unchanged'])
  t.same(kinds(planDeregister(ns, {...registered(), clusterNamespace: {managed: false, tainted: false}}, {purge: true})), ['bao-namespace:conflict'])
  t.same(kinds(planDeregister(flat, {...registered(flat), policy: 'path "x" {}'}, {purge: true})), ['record:delete', 'record:unchanged', 'ca:delete', 'policy:conflict', 'kv-mount:delete'])
  t.same(kinds(planDeregister(flat, {...registered(flat), mount: {type: 'kv', version: '2'}}, {purge: true})).at(-1), 'kv-mount:conflict')
})

t.test('a server without namespaces is told apart from a missing namespace (not testable on the lab: OpenBao 2.7 has them)', async (t) => {
  t.ok(namespacesUnsupported(404, ['1 error occurred:\n\t* unsupported path\n\n']), 'Vault CE')
  t.ok(namespacesUnsupported(404, ['no handler for route "sys/namespaces/cloudtaser". route entry not found.']))
  t.notOk(namespacesUnsupported(404, []), 'OpenBao 2.7: the namespace is just not there')
  t.notOk(namespacesUnsupported(200, undefined))
})
