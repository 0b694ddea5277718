// source register / deregister against the lab's real OpenBao 2.7 (which has namespaces): the
// dry run lists exactly what the real run does, a re-run changes nothing, the bridge policy works
// as documented with a real token, rotation, deregister and purge, and --no-namespace.
import t from 'tap'
import {createPrivateKey, X509Certificate} from 'node:crypto'
import {startOpenBao} from '../../../lib/lab/index.js'
import type {Action} from '../../../lib/openbao/actions.js'
import {OpenBaoClient} from '../../../lib/openbao/client.js'
import {resolveConnection} from '../../../lib/openbao/config.js'
import {deregisterCluster} from '../../../lib/openbao/deregister.js'
import {registerCluster} from '../../../lib/openbao/register.js'
import {initHashHex, type RegistrationRecord} from '../../../lib/openbao/registration.js'
import {clientFor} from './fixtures.js'

const bao = await startOpenBao()
t.teardown(() => bao.stop())
const root = clientFor(bao.addr, bao.token)
t.teardown(() => root.close())

const FP = '0ad50c05-1153-4508-9237-4cb2912e2c23'
const TWIN = '0ad50c05-ffff-4fff-8fff-ffffffffffff'
const cluster = (fingerprint = FP) => ({fingerprint, from: 'flag' as const})
const opts = {actor: 'test <test@example.eu>'}
const lines = (actions: Action[]) => actions.map((a) => `${a.kind} ${a.resource} ${a.name}`)
/** The real run names the CA it made by its hash; the dry run could only say <new>. */
const asPlanned = (actions: Action[]) => lines(actions).map((l) => (l.startsWith('create ca ') ? l.replace(/[0-9a-f]{64}$/, '<new>') : l))

type Kv<T> = {data: {data: T; metadata: {version: number}}}
const record = async (prefix = 'cloudtaser/0ad50c05/cloudtaser', fp = FP) => (await root.read<Kv<RegistrationRecord>>(`${prefix}/data/clusters/${fp}/registered`))?.data
const caRecord = async (prefix = 'cloudtaser/0ad50c05/cloudtaser', fp = FP) => {
  const sha = (await record(prefix, fp))!.data.caCertSha256
  return (await root.read<Kv<{certificate: string; private_key: string}>>(`${prefix}/data/system/${fp}/ca/${sha}`))?.data
}
const caEntries = async (prefix = 'cloudtaser/0ad50c05/cloudtaser', fp = FP) =>
  (await root.call<{data?: {keys?: string[]}}>('GET', `${prefix}/metadata/system/${fp}/ca`, {query: {list: 'true'}, accept: [404]})).body?.data?.keys ?? []

/** Every namespace, mount, policy and KV entry under cloudtaser's names, as one comparable string. */
async function state(): Promise<string> {
  const list = async (path: string) => (await root.call<{data?: {keys?: string[]}}>('GET', path, {query: {list: 'true'}, accept: [404]})).body?.data?.keys ?? []
  const out: Record<string, unknown> = {ns: await list('sys/namespaces')}
  for (const prefix of ['', 'cloudtaser/0ad50c05/']) {
    const mounts = await root.call<{data?: Record<string, unknown>}>('GET', `${prefix}sys/mounts`, {accept: [404]})
    out[`${prefix}mounts`] = Object.keys(mounts.body?.data ?? {}).sort()
    out[`${prefix}policies`] = (await list(`${prefix}sys/policies/acl`)).sort()
    for (const mount of ['cloudtaser', 'cloudtaser-0ad50c05']) {
      for (const dir of [`clusters/${FP}/`, `system/${FP}/ca/`]) {
        const keys = await list(`${prefix}${mount}/metadata/${dir}`)
        for (const k of keys) out[`${prefix}${mount}/${dir}${k}`] = (await root.read<{data: {current_version: number}}>(`${prefix}${mount}/metadata/${dir}${k}`))?.data.current_version
      }
    }
  }
  return JSON.stringify(out)
}

async function waitNamespaceGone(path: string, client: OpenBaoClient = root): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const r = await client.call('GET', path, {accept: [404]})
    if (r.status === 404) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`${path} still there`)
}

t.test('register: dry run = the real run\'s actions, nothing written; re-run unchanged', async (t) => {
  const before = await state()
  const dry = await registerCluster(root, cluster(), {...opts, dryRun: true})
  t.equal(await state(), before, 'the dry run wrote nothing')
  t.same(dry.infoHashes, {init: initHashHex(FP), operational: null})

  const t0 = performance.now()
  const real = await registerCluster(root, cluster(), opts)
  t.comment(`register (fresh, namespace mode) against the lab: ${Math.round(performance.now() - t0)} ms, ${real.requests.requests} requests`)
  t.same(asPlanned(real.actions), lines(dry.actions), 'the dry run listed exactly what the real run did')
  t.same(real.summary, {create: 6, update: 0, unchanged: 0, conflict: 0})

  const rec = (await record())!
  t.match(rec.data, {fingerprint: FP, registeredBy: 'test <test@example.eu>', initialized: false, initInfoHash: initHashHex(FP), namespace: 'cloudtaser/0ad50c05', mount: 'cloudtaser', bridgePolicy: 'cloudtaser-bridge-0ad50c05'})
  const cert = new X509Certificate(rec.data.caCertificate)
  t.equal(rec.data.caCertSha256, cert.fingerprint256.replaceAll(':', '').toLowerCase())
  t.equal(rec.data.operationalInfoHash, rec.data.caCertSha256)
  t.same(real.infoHashes, {init: rec.data.initInfoHash, operational: rec.data.operationalInfoHash})
  const ca = (await caRecord())!
  t.equal(ca.data.certificate, rec.data.caCertificate)
  t.ok(cert.checkPrivateKey(createPrivateKey(ca.data.private_key)), 'the stored key is the CA certificate\'s key')
  t.notOk(JSON.stringify(real).includes(ca.data.private_key.split('\n')[1]!), 'the result carries no key material')
  t.same(await caEntries(), [rec.data.caCertSha256], 'one CA, named by its hash')

  const afterFirst = await state()
  const again = await registerCluster(root, cluster(), opts)
  t.same(again.summary, {create: 0, update: 0, unchanged: 6, conflict: 0})
  t.equal(again.infoHashes.operational, rec.data.operationalInfoHash)
  t.equal(await state(), afterFirst, 'the re-run wrote nothing')
  t.equal((await record())!.metadata.version, 1)
})

t.test('the bridge policy, with a real token: reads registration and CA, marks initialized once, changes nothing else', async (t) => {
  const made = await root.call<{auth: {client_token: string}}>('POST', 'cloudtaser/0ad50c05/auth/token/create', {body: {policies: ['cloudtaser-bridge-0ad50c05'], ttl: '5m'}})
  const bridge = clientFor(bao.addr, made.body!.auth.client_token)
  t.teardown(() => bridge.close())
  const base = `cloudtaser/0ad50c05/cloudtaser`
  t.ok(await bridge.read(`${base}/data/clusters/${FP}/registered`))
  t.ok(await bridge.read(`${base}/data/system/${FP}/ca/${(await record())!.data.caCertSha256}`))
  await bridge.write(`${base}/data/clusters/${FP}/initialized`, {options: {cas: 0}, data: {initializedAt: new Date().toISOString()}})
  const twice = await bridge.call<{errors: string[]}>('POST', `${base}/data/clusters/${FP}/initialized`, {body: {options: {cas: 0}, data: {x: 1}}, accept: [400, 403]})
  t.not(twice.status, 200, 'one-time: a second mark is refused')
  await t.rejects(bridge.write(`${base}/data/clusters/${FP}/registered`, {data: {fingerprint: FP}}), {code: 'BAO_PERMISSION_DENIED'}, 'cannot alter the registration')
  await t.rejects(bridge.call('DELETE', `${base}/metadata/clusters/${FP}/registered`), {code: 'BAO_PERMISSION_DENIED'})
  await t.rejects(bridge.read(`${base}/data/system/${FP}/other`), {code: 'BAO_PERMISSION_DENIED'})
  await t.rejects(bridge.write(`${base}/data/system/${FP}/ca/x`, {data: {}}), {code: 'BAO_PERMISSION_DENIED'}, 'cannot plant a CA')
  await t.rejects(bridge.read(`sys/namespaces/cloudtaser`), {code: /BAO_PERMISSION_DENIED|BAO_INVALID_TOKEN/}, 'nothing outside its namespace')

  const again = await registerCluster(root, cluster(), opts)
  t.same(again.summary, {create: 0, update: 0, unchanged: 6, conflict: 0}, 'initialization does not disturb register')
})

t.test('--rotate-ca: new CA and hashes, initialized reset; never without the flag', async (t) => {
  const old = (await record())!.data
  const dry = await registerCluster(root, cluster(), {...opts, rotateCa: true, dryRun: true})
  t.same(lines(dry.actions).slice(3), [
    `create ca cloudtaser/0ad50c05/cloudtaser/system/${FP}/ca/<new>`,
    `delete ca cloudtaser/0ad50c05/cloudtaser/system/${FP}/ca/${old.caCertSha256}`,
    'unchanged policy cloudtaser-bridge-0ad50c05',
    `update record cloudtaser/0ad50c05/cloudtaser/clusters/${FP}/registered`,
    `delete record cloudtaser/0ad50c05/cloudtaser/clusters/${FP}/initialized`,
  ])
  t.equal((await record())!.data.caCertSha256, old.caCertSha256, 'dry run kept the CA')
  const rotated = await registerCluster(root, cluster(), {...opts, rotateCa: true})
  t.same(asPlanned(rotated.actions), lines(dry.actions))
  const now = (await record())!
  t.not(now.data.caCertSha256, old.caCertSha256)
  t.equal(now.metadata.version, 2)
  t.equal(rotated.infoHashes.operational, now.data.operationalInfoHash)
  t.equal(await root.read(`cloudtaser/0ad50c05/cloudtaser/metadata/clusters/${FP}/initialized`), undefined)
  t.ok(new X509Certificate(now.data.caCertificate).checkPrivateKey(createPrivateKey((await caRecord())!.data.private_key)))
  t.same(await caEntries(), [now.data.caCertSha256], 'the old CA is gone')
  t.same((await registerCluster(root, cluster(), opts)).summary, {create: 0, update: 0, unchanged: 6, conflict: 0})
})

t.test('a cluster whose first 8 hex digits collide: conflict in namespace mode, fine with --no-namespace', async (t) => {
  const before = await state()
  const r = await registerCluster(root, cluster(TWIN), opts)
  t.ok(r.refused)
  t.match(r.actions[1], {kind: 'conflict', reason: new RegExp(`belongs to cluster ${FP}`)})
  t.equal(await state(), before, 'nothing written')
})

t.test('deregister: dry run, records gone (all versions), CA kept; re-register makes a fresh CA', async (t) => {
  await root.write(`cloudtaser/0ad50c05/cloudtaser/data/clusters/${FP}/initialized`, {data: {initializedAt: 'x'}})
  const old = (await record())!.data.caCertSha256
  const before = await state()
  const dry = await deregisterCluster(root, cluster(), {dryRun: true})
  t.equal(await state(), before)
  const real = await deregisterCluster(root, cluster())
  t.same(lines(real.actions), lines(dry.actions))
  t.same(real.summary, {delete: 2, create: 0, update: 0, unchanged: 0, conflict: 0})
  t.equal(await root.read(`cloudtaser/0ad50c05/cloudtaser/metadata/clusters/${FP}/registered`), undefined, 'all versions gone')
  t.equal(await root.read(`cloudtaser/0ad50c05/cloudtaser/metadata/clusters/${FP}/initialized`), undefined)
  t.same(await caEntries(), [old], 'the CA stays without --purge')
  t.same((await deregisterCluster(root, cluster())).summary, {delete: 0, create: 0, update: 0, unchanged: 2, conflict: 0}, 'idempotent')

  await root.write(`cloudtaser/0ad50c05/cloudtaser/data/clusters/${FP}/initialized`, {data: {initializedAt: 'stale'}})
  const again = await registerCluster(root, cluster(), opts)
  t.equal(await root.read(`cloudtaser/0ad50c05/cloudtaser/metadata/clusters/${FP}/initialized`), undefined, 'a stale initialized record does not block the new bootstrap')
  t.same(lines(again.actions).filter((l) => l.includes(' ca ')).map((l) => l.split(' ')[0]), ['create', 'delete'])
  t.match(again.actions.find((a) => a.resource === 'ca' && a.kind === 'delete'), {name: new RegExp(`${old}$`), reason: /no registration uses it/})
  t.not((await record())!.data.caCertSha256, old, 'a deregistered cluster never gets its old trust back')
  t.same(await caEntries(), [(await record())!.data.caCertSha256])
})

t.test('deregister --purge: the namespace with everything in it; cloudtaser/ stays; register works again', async (t) => {
  const dry = await deregisterCluster(root, cluster(), {purge: true, dryRun: true})
  const real = await deregisterCluster(root, cluster(), {purge: true})
  t.same(lines(real.actions), lines(dry.actions))
  t.same(lines(real.actions).at(-1), 'delete bao-namespace cloudtaser/0ad50c05')
  await waitNamespaceGone('cloudtaser/sys/namespaces/0ad50c05')
  t.ok(await root.read('sys/namespaces/cloudtaser'), 'the parent namespace stays for other clusters')
  t.same((await deregisterCluster(root, cluster(), {purge: true})).summary, {delete: 0, create: 0, update: 0, unchanged: 3, conflict: 0})
  const back = await registerCluster(root, cluster(), opts)
  t.same(back.summary, {create: 5, update: 0, unchanged: 1, conflict: 0})
  await deregisterCluster(root, cluster(), {purge: true})
  await waitNamespaceGone('cloudtaser/sys/namespaces/0ad50c05')
})

t.test('--no-namespace: a per-cluster mount; full cycle; the twin cluster fits too', async (t) => {
  const o = {...opts, namespaces: false}
  const dry = await registerCluster(root, cluster(), {...o, dryRun: true})
  const real = await registerCluster(root, cluster(), o)
  t.same(asPlanned(real.actions), lines(dry.actions))
  t.same(lines(dry.actions), [
    'create kv-mount cloudtaser-0ad50c05',
    `create ca cloudtaser-0ad50c05/system/${FP}/ca/<new>`,
    'create policy cloudtaser-bridge-0ad50c05',
    `create record cloudtaser-0ad50c05/clusters/${FP}/registered`,
  ])
  t.match((await record('cloudtaser-0ad50c05'))!.data, {fingerprint: FP, mount: 'cloudtaser-0ad50c05'})
  t.same((await registerCluster(root, cluster(), o)).summary, {create: 0, update: 0, unchanged: 4, conflict: 0})
  t.ok((await registerCluster(root, cluster(TWIN), o)).refused, 'the twin collides on the mount name too')

  const purge = await deregisterCluster(root, cluster(), {namespaces: false, purge: true})
  t.same(lines(purge.actions), [
    `delete record cloudtaser-0ad50c05/clusters/${FP}/registered`,
    `unchanged record cloudtaser-0ad50c05/clusters/${FP}/initialized`,
    `delete ca cloudtaser-0ad50c05/system/${FP}/ca/${real.infoHashes.operational}`,
    'delete policy cloudtaser-bridge-0ad50c05',
    'delete kv-mount cloudtaser-0ad50c05',
  ])
  t.equal(await root.read('sys/policies/acl/cloudtaser-bridge-0ad50c05'), undefined)
  t.equal((await root.call('GET', 'sys/mounts/cloudtaser-0ad50c05', {accept: [400]})).status, 400, 'mount gone')
  t.same((await registerCluster(root, cluster(TWIN), o)).summary, {create: 4, update: 0, unchanged: 0, conflict: 0})
  await deregisterCluster(root, cluster(TWIN), {namespaces: false, purge: true})
})

t.test('a foreign policy of the bridge\'s name: conflict, nothing written', async (t) => {
  await root.write('sys/policies/acl/cloudtaser-bridge-0ad50c05', {policy: 'path "secret/*" { capabilities = ["read"] }'}, 'PUT')
  const before = await state()
  const r = await registerCluster(root, cluster(), {...opts, namespaces: false})
  t.ok(r.refused)
  t.match(r.actions.find((a) => a.resource === 'policy'), {kind: 'conflict', reason: /not created by cloudtaser/})
  t.equal(await state(), before)
  t.ok((await deregisterCluster(root, cluster(), {namespaces: false, purge: true})).refused, 'and purge will not delete it')
  await root.call('DELETE', 'sys/policies/acl/cloudtaser-bridge-0ad50c05')
})

t.test('two registers of one cluster at once: never two CAs; the loser stops with REGISTER_RACE (exit 6) or finds all done', async (t) => {
  type R = Awaited<ReturnType<typeof registerCluster>>
  for (let round = 0; round < 6; round++) {
    const namespaces = round % 2 === 0
    const fp = `cafe000${round}-1153-4508-9237-4cb2912e2c23`
    const rs = await Promise.allSettled([registerCluster(root, cluster(fp), {...opts, namespaces}), registerCluster(root, cluster(fp), {...opts, namespaces})])
    const won = rs.filter((r): r is PromiseFulfilledResult<R> => r.status === 'fulfilled').map((r) => r.value)
    const lost = rs.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as {code?: string; exitCode?: number})
    const wrote = won.filter((r) => !r.refused && r.summary.create > 0)
    t.equal(wrote.length, 1, `round ${round}: exactly one run registered`, {diag: won.map((r) => r.actions.map((a) => `${a.kind} ${a.resource} ${a.name}`))})
    // The other: a write refused by check-and-set, a conflict seen before writing (both exit 6), or all done.
    for (const e of lost) t.match(e, {code: 'REGISTER_RACE', exitCode: 6})
    for (const r of won.filter((r) => !wrote.includes(r))) t.ok(r.refused || r.summary.unchanged === r.actions.length, 'the other stopped or found it all done')
    const again = await registerCluster(root, cluster(fp), {...opts, namespaces})
    t.equal(again.summary.unchanged, again.actions.length, 'consistent afterwards: everything unchanged')
    t.equal(again.infoHashes.operational, wrote[0]?.infoHashes.operational)
    const prefix = namespaces ? `cloudtaser/${fp.slice(0, 8)}/cloudtaser` : `cloudtaser-${fp.slice(0, 8)}`
    t.same(await caEntries(prefix, fp), [again.infoHashes.operational], 'one CA left, the registration\'s')
    await deregisterCluster(root, cluster(fp), {namespaces, purge: true})
  }
})

/** docs/register.md, "A least-privilege token for register": kept in step with it. */
const REGISTER_POLICY = `
path "sys/namespaces/cloudtaser"                        { capabilities = ["read", "create", "update"] }
path "cloudtaser/sys/namespaces/+"                      { capabilities = ["read", "create", "update", "delete"] }
path "cloudtaser/+/sys/mounts/cloudtaser"               { capabilities = ["read", "create", "update"] }
path "cloudtaser/+/sys/policies/acl/cloudtaser-bridge-*" { capabilities = ["read", "create", "update"] }
path "cloudtaser/+/cloudtaser/data/clusters/*"          { capabilities = ["read", "create", "update"] }
path "cloudtaser/+/cloudtaser/data/system/*"            { capabilities = ["create"] }
path "cloudtaser/+/cloudtaser/metadata/*"               { capabilities = ["read", "list", "delete"] }
`

t.test('a least-privilege token registers, re-runs, deregisters and purges, and can never read a CA key', async (t) => {
  await root.write('sys/policies/acl/cloudtaser-registrar', {policy: REGISTER_POLICY}, 'PUT')
  const made = await root.call<{auth: {client_token: string}}>('POST', 'auth/token/create', {body: {policies: ['cloudtaser-registrar'], ttl: '5m'}})
  const admin = clientFor(bao.addr, made.body!.auth.client_token)
  t.teardown(() => admin.close())
  const fp = 'beef0001-1153-4508-9237-4cb2912e2c23'
  const r = await registerCluster(admin, cluster(fp), opts)
  t.same(r.summary, {create: 5, update: 0, unchanged: 1, conflict: 0})
  t.same((await registerCluster(admin, cluster(fp), opts)).summary.unchanged, 6)
  const sha = r.infoHashes.operational!
  await t.rejects(admin.read(`cloudtaser/beef0001/cloudtaser/data/system/${fp}/ca/${sha}`), {code: 'BAO_PERMISSION_DENIED'}, 'the registrar cannot read the key it wrote')
  t.same((await registerCluster(admin, cluster(fp), {...opts, rotateCa: true})).summary, {create: 1, update: 1, unchanged: 4, conflict: 0, delete: 1})
  t.same((await deregisterCluster(admin, cluster(fp))).summary.delete, 1)
  t.same((await deregisterCluster(admin, cluster(fp), {purge: true})).summary.delete, 1)
  await waitNamespaceGone('cloudtaser/sys/namespaces/beef0001')
})

t.test('inside the token\'s own namespace (BAO_NAMESPACE): cloudtaser/<id> is created below it', async (t) => {
  await root.write('sys/namespaces/team-eu', {})
  const inTeam = new OpenBaoClient(resolveConnection({'openbao-addr': bao.addr, token: bao.token, 'bao-namespace': 'team-eu'}, {}, '/nonexistent'))
  t.teardown(() => inTeam.close())
  const r = await registerCluster(inTeam, cluster(), opts)
  t.same(r.summary, {create: 6, update: 0, unchanged: 0, conflict: 0})
  t.ok(await root.read(`team-eu/cloudtaser/0ad50c05/cloudtaser/data/clusters/${FP}/registered`), 'the record is under team-eu/')
  t.equal(await root.read('cloudtaser/sys/namespaces/0ad50c05'), undefined, 'nothing in the root namespace\'s cloudtaser/')
  t.same((await registerCluster(inTeam, cluster(), opts)).summary.unchanged, 6)
  await deregisterCluster(inTeam, cluster(), {purge: true})
})
