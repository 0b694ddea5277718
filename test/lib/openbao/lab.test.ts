// The whole OpenBao side against the lab's real kube-apiserver and OpenBao:
// connect -> apply-plan -> values written with the bao CLI -> verify-plan; a workload's
// TokenRequest token logs in through its tenant's role and reads only its own secrets.
import t from 'tap'
import {CoreV1Api} from '@kubernetes/client-node'
import {startLab} from '../../../lib/lab/index.js'
import {applyPlan} from '../../../lib/openbao/apply-plan.js'
import {configureOperator, OPERATOR_DEFAULTS} from '../../../lib/openbao/configure.js'
import {clusterEndpoint, CONNECT_DEFAULTS, connectCluster} from '../../../lib/openbao/connect.js'
import {verifyPlan} from '../../../lib/openbao/verify-plan.js'
import {loginKubernetes} from '../../../lib/openbao/login.js'
import {resolveConnection} from '../../../lib/openbao/config.js'
import {OpenBaoClient} from '../../../lib/openbao/client.js'
import {baoCli, CANARY, clientFor, labPlan, writeValues} from './fixtures.js'
import type {MigrationPlan} from '../../../lib/plan/types.generated.js'

const lab = await startLab()
t.teardown(() => lab.stop())
const client = clientFor(lab.baoAddr, lab.baoToken)
t.teardown(() => client.close())
const core = lab.kubeConfig.makeApiClient(CoreV1Api)
const plan = labPlan()
const target = {...CONNECT_DEFAULTS, ...clusterEndpoint(lab.kubeConfig), renewToken: false}

/** Everything cloudtaser could have written, read back: policies, roles, auth config. */
const snapshot = async () => {
  const names = ((await client.call<{data: {keys: string[]}}>('GET', 'sys/policies/acl', {query: {list: 'true'}})).body!.data.keys).sort()
  const roles = await client.call<{data?: {keys: string[]}}>('GET', 'auth/kubernetes/role', {query: {list: 'true'}, accept: [404]})
  const texts = await Promise.all(names.map((n) => client.read<{data: {policy: string}}>(`sys/policies/acl/${n}`)))
  return JSON.stringify({names, texts: texts.map((x) => x?.data.policy), roles: roles.body?.data?.keys.sort()})
}

t.test('target connect: dry run changes nothing, then configures auth, then is unchanged', async (t) => {
  const dry = await connectCluster(client, lab.kubeConfig, target, {dryRun: true})
  t.same(dry.summary, {create: 5, update: 0, unchanged: 0, conflict: 0})
  t.equal((await client.read<{data: Record<string, unknown>}>('sys/auth'))!.data['kubernetes/'], undefined, 'no auth method yet')
  t.equal(await core.readNamespace({name: 'cloudtaser-system'}).then(() => 200, (e: {code: number}) => e.code), 404, 'no namespace yet')
  const first = await connectCluster(client, lab.kubeConfig, target)
  t.same(first.summary, {create: 5, update: 0, unchanged: 0, conflict: 0})
  t.ok(first.reviewerTokenExpires, 'reports when the reviewer token expires')
  const sa = await core.readNamespacedServiceAccount({name: 'cloudtaser-token-reviewer', namespace: 'cloudtaser-system'})
  t.equal(sa.metadata?.labels?.['app.kubernetes.io/managed-by'], 'cloudtaser')
  const second = await connectCluster(client, lab.kubeConfig, target)
  t.same(second.summary, {create: 0, update: 0, unchanged: 5, conflict: 0}, JSON.stringify(second.actions))
})

t.test('apply-plan: dry run writes nothing; apply creates; a second run is all unchanged', async (t) => {
  const before = await snapshot()
  const dry = await applyPlan(client, plan, {dryRun: true})
  t.same(dry.summary, {create: 4, update: 0, unchanged: 0, conflict: 0})
  t.equal(await snapshot(), before, 'OpenBao state identical after --dry-run')

  const applied = await applyPlan(client, plan)
  t.same(applied.summary, {create: 4, update: 0, unchanged: 0, conflict: 0})
  const again = await applyPlan(client, plan)
  t.same(again.summary, {create: 0, update: 0, unchanged: 4, conflict: 0})
  t.same(again.kvMounts, [{mount: 'secret', type: 'kv', version: 2}])
  const policy = await baoCli(lab.baoAddr, lab.baoToken, 'policy', 'read', 'cloudtaser-lab-alpha')
  t.match(policy, /^# managed-by: cloudtaser; plan=lab/)
  t.match(policy, /path "secret\/data\/lab\/alpha\/db"/)
  t.notMatch(policy, /beta|\*/)

  // A dry run after a drift shows it and still writes nothing.
  await client.write('auth/kubernetes/role/cloudtaser-lab-beta', {token_ttl: 5})
  const drifted = await snapshot()
  const dry2 = await applyPlan(client, plan, {dryRun: true})
  t.same(dry2.summary, {create: 0, update: 1, unchanged: 3, conflict: 0})
  t.equal(await snapshot(), drifted)
  t.equal((await client.read<{data: {token_ttl: number}}>('auth/kubernetes/role/cloudtaser-lab-beta'))!.data.token_ttl, 5)
  t.same((await applyPlan(client, plan)).summary, {create: 0, update: 1, unchanged: 3, conflict: 0})

  // The migrator role is for beacon mode: its tokens have the broker's audience, which a kubernetes mount's TokenReview would refuse.
  const viaBroker = {...plan, openbao: {...plan.openbao, address: 'https://cloudtaser-broker.cloudtaser-system.svc:8200'}}
  const beforeMigrator = await snapshot()
  await t.rejects(applyPlan(client, viaBroker, {clusterMigrate: true}), {code: 'MIGRATE_NEEDS_JWT_MOUNT', exitCode: 3}, '--allow-cluster-migrate on a kubernetes mount is refused')
  t.equal(await snapshot(), beforeMigrator, 'before any write')

  // A migrator this plan wrote (on a jwt mount, in beacon mode) goes when apply-plan runs without the flag; anyone else's stays.
  const migratorPolicy = `# managed-by: cloudtaser; plan=${plan.metadata.name}\npath "secret/data/lab/alpha/db" {\n  capabilities = ["create", "read", "update"]\n}\n`
  await client.write('sys/policies/acl/cloudtaser-migrate', {policy: migratorPolicy}, 'PUT')
  await client.write('auth/kubernetes/role/cloudtaser-migrate', {bound_service_account_names: ['cloudtaser-migrator'], bound_service_account_namespaces: ['cloudtaser-system'], token_policies: ['cloudtaser-migrate']})
  const dryRevoke = await applyPlan(client, plan, {dryRun: true})
  t.same(dryRevoke.actions.filter((a) => a.kind === 'delete').map((a) => `${a.resource} ${a.name}`), ['role cloudtaser-migrate', 'policy cloudtaser-migrate'], 'the dry run shows the migrator\'s deletion')
  t.equal((await client.read('auth/kubernetes/role/cloudtaser-migrate')) !== undefined, true, 'and deletes nothing')
  t.same((await applyPlan(client, plan)).summary, {create: 0, update: 0, unchanged: 4, conflict: 0, delete: 2})
  t.equal(await client.read('auth/kubernetes/role/cloudtaser-migrate'), undefined, 'the role is gone')
  t.equal(await client.read('sys/policies/acl/cloudtaser-migrate'), undefined, 'and its policy')
  await client.write('sys/policies/acl/cloudtaser-migrate', {policy: migratorPolicy.replace(`plan=${plan.metadata.name}`, 'plan=another')}, 'PUT')
  t.same((await applyPlan(client, plan)).summary, {create: 0, update: 0, unchanged: 4, conflict: 0}, 'another plan\'s migrator is not this plan\'s to delete')
  t.ok(await client.read('sys/policies/acl/cloudtaser-migrate'), 'it stays')
  await client.call('DELETE', 'sys/policies/acl/cloudtaser-migrate')
})

t.test('verify-plan: fails before values exist; passes after `bao kv put`; names a removed field', async (t) => {
  const empty = await verifyPlan(client, plan)
  t.equal(empty.ok, false)
  t.equal(empty.counts.missing, 4)
  await writeValues(lab.baoAddr, lab.baoToken)
  const ok = await verifyPlan(client, plan)
  t.equal(ok.ok, true, JSON.stringify(ok.secrets))
  t.same(ok.secrets.map((s) => s.read), ['data', 'metadata', 'data', 'metadata'], 'metadata only where no field is mapped')
  t.notMatch(JSON.stringify(ok), /canary/)

  // A new version without `password`.
  await baoCli(lab.baoAddr, lab.baoToken, 'kv', 'put', '-mount=secret', 'lab/beta/db', 'username=beta-user')
  const missing = await verifyPlan(client, plan)
  t.equal(missing.ok, false)
  t.same(
    missing.secrets.filter((s) => s.state !== 'ok').map((s) => [s.vaultPath, s.state, s.missingFields]),
    [['secret/data/lab/beta/db', 'fields-missing', ['password']]],
  )
  // Deleted and destroyed current versions.
  await baoCli(lab.baoAddr, lab.baoToken, 'kv', 'delete', '-mount=secret', 'lab/beta/env')
  await baoCli(lab.baoAddr, lab.baoToken, 'kv', 'destroy', '-mount=secret', '-versions=2', 'lab/beta/db')
  const states = Object.fromEntries((await verifyPlan(client, plan)).secrets.map((s) => [s.vaultPath, s.state]))
  t.match(states, {'secret/data/lab/beta/env': 'deleted', 'secret/data/lab/beta/db': 'destroyed', 'secret/data/lab/alpha/db': 'ok'})
  await writeValues(lab.baoAddr, lab.baoToken)
  t.equal((await verifyPlan(client, plan)).ok, true)
})

t.test('a workload token logs in through its tenant role, reads its secrets, gets 403 on the other tenant', async (t) => {
  for (const ns of ['alpha', 'beta']) {
    await core.createNamespace({body: {metadata: {name: ns}}})
    await core.createNamespacedServiceAccount({namespace: ns, body: {metadata: {name: `${ns}-api`}}})
  }
  const jwt = (await core.createNamespacedServiceAccountToken({name: 'alpha-api', namespace: 'alpha', body: {spec: {expirationSeconds: 600, audiences: []}}})).status!.token
  const login = await client.call<{auth: {client_token: string; token_policies: string[]; lease_duration: number}}>('POST', 'auth/kubernetes/login', {body: {role: 'cloudtaser-lab-alpha', jwt}})
  const auth = login.body!.auth
  t.same([...auth.token_policies].sort(), ['cloudtaser-lab-alpha', 'default'])
  t.equal(auth.lease_duration, 900, 'token TTL 15m')
  const workload = clientFor(lab.baoAddr, auth.client_token)
  t.teardown(() => workload.close())
  const own = await workload.call<{data: {data: Record<string, string>}}>('GET', 'secret/data/lab/alpha/db')
  t.equal(own.status, 200)
  t.equal(own.body!.data.data.password, CANARY.alpha)
  await t.rejects(workload.call('GET', 'secret/data/lab/beta/db'), {
    code: 'BAO_PERMISSION_DENIED',
    exitCode: 4,
    message: 'permission denied: GET secret/data/lab/beta/db needs the "read" capability on "secret/data/lab/beta/db"',
  })
  const meta = await workload.call<{data: {current_version: number}}>('GET', 'secret/metadata/lab/alpha/db')
  t.ok(meta.body!.data.current_version >= 1, 'its own metadata: the version, for change detection')
  t.notOk(JSON.stringify(meta.body).includes(CANARY.alpha), 'metadata carries no value')
  await t.rejects(workload.call('GET', 'secret/metadata/lab/beta/db'), {code: 'BAO_PERMISSION_DENIED'}, 'not the other tenant\'s metadata')
  await t.rejects(workload.call('LIST', 'secret/metadata/lab/alpha'), {code: 'BAO_PERMISSION_DENIED'}, 'no listing')
  // The daemons' path: loginKubernetes gives a client holding the workload's token.
  const viaLogin = await loginKubernetes(resolveConnection({'openbao-addr': lab.baoAddr, token: 'unused'}, {}, '/nonexistent'), {mount: 'kubernetes', role: 'cloudtaser-lab-alpha', jwt}, (s) => new OpenBaoClient(s))
  t.teardown(() => viaLogin.client.close())
  t.equal(viaLogin.leaseSeconds, 900)
  t.equal((await viaLogin.client.call('GET', 'secret/data/lab/alpha/env')).status, 200)
  // beta's role refuses alpha's ServiceAccount, with a login error (not "invalid token").
  await t.rejects(
    loginKubernetes(resolveConnection({'openbao-addr': lab.baoAddr, token: 'unused'}, {}, '/nonexistent'), {mount: 'kubernetes', role: 'cloudtaser-lab-beta', jwt}, (s) => new OpenBaoClient(s)),
    {code: 'BAO_LOGIN_REFUSED', exitCode: 4, message: /role cloudtaser-lab-beta refused/},
  )
})

t.test('source configure: operator policy and role, idempotent', async (t) => {
  const dry = await configureOperator(client, OPERATOR_DEFAULTS, {dryRun: true})
  t.same(dry.summary, {create: 2, update: 0, unchanged: 0, conflict: 0})
  t.equal(await client.read('sys/policies/acl/cloudtaser-operator'), undefined)
  t.same((await configureOperator(client, OPERATOR_DEFAULTS)).summary, {create: 2, update: 0, unchanged: 0, conflict: 0})
  t.same((await configureOperator(client, OPERATOR_DEFAULTS)).summary, {create: 0, update: 0, unchanged: 2, conflict: 0})

  await core.createNamespacedServiceAccount({namespace: 'cloudtaser-system', body: {metadata: {name: 'cloudtaser-operator'}}})
  const jwt = (await core.createNamespacedServiceAccountToken({name: 'cloudtaser-operator', namespace: 'cloudtaser-system', body: {spec: {expirationSeconds: 600, audiences: []}}})).status!.token
  const login = await client.call<{auth: {client_token: string}}>('POST', 'auth/kubernetes/login', {body: {role: 'cloudtaser-operator', jwt}})
  const op = clientFor(lab.baoAddr, login.body!.auth.client_token)
  t.teardown(() => op.close())
  // Exactly what the operator does with its material (runtime/operator/store-openbao.ts): a
  // check-and-set create, a read, a check-and-set update, a metadata read; nothing else.
  await op.write('secret/data/cloudtaser/system/webhook-tls', {options: {cas: 0}, data: {x: '1'}})
  t.equal((await op.call('POST', 'secret/data/cloudtaser/system/webhook-tls', {body: {options: {cas: 0}, data: {x: '2'}}, accept: [400]})).status, 400, 'cas=0 refuses a second creation')
  await op.write('secret/data/cloudtaser/system/webhook-tls', {options: {cas: 1}, data: {x: '2'}})
  t.equal((await op.read<{data: {current_version: number}}>('secret/metadata/cloudtaser/system/webhook-tls'))!.data.current_version, 2)
  t.equal((await op.read<{data: {data: {x: string}}}>('secret/data/cloudtaser/system/webhook-tls'))!.data.data.x, '2')
  await t.rejects(op.call('GET', 'secret/metadata/cloudtaser/system/', {query: {list: 'true'}}), {code: 'BAO_PERMISSION_DENIED'}, 'no list')
  await t.rejects(op.call('DELETE', 'secret/data/cloudtaser/system/webhook-tls'), {code: 'BAO_PERMISSION_DENIED'}, 'no delete')
  await t.rejects(op.call('DELETE', 'secret/metadata/cloudtaser/system/webhook-tls'), {code: 'BAO_PERMISSION_DENIED'}, 'no destroy')
  await t.rejects(op.call('GET', 'secret/data/lab/alpha/db'), {code: 'BAO_PERMISSION_DENIED'}, 'no tenant secret')
  await t.rejects(op.write('secret/data/cloudtaser/other', {data: {x: '1'}}), {code: 'BAO_PERMISSION_DENIED'}, 'nothing outside cloudtaser/system/')
  await t.rejects(op.write('sys/policies/acl/cloudtaser-operator', {policy: 'path "*" {capabilities=["sudo"]}'}), {code: 'BAO_PERMISSION_DENIED'}, 'cannot widen itself')
})

t.test('source configure narrows the policy an earlier version wrote (delete and list dropped)', async (t) => {
  const wider = (await client.read<{data: {policy: string}}>('sys/policies/acl/cloudtaser-operator'))!.data.policy.replace('["read"]', '["create", "read", "update", "delete", "list"]')
  await client.write('sys/policies/acl/cloudtaser-operator', {policy: wider}, 'PUT')
  const r = await configureOperator(client, OPERATOR_DEFAULTS)
  t.match(r.actions.find((a) => a.resource === 'policy'), {kind: 'update', reason: 'paths differ'})
  t.notMatch((await client.read<{data: {policy: string}}>('sys/policies/acl/cloudtaser-operator'))!.data.policy, /delete|list/)
})

t.test('connect after the API address changed: config rewritten, reviewer token kept working', async (t) => {
  const moved = {...target, kubernetesHost: target.kubernetesHost.replace('127.0.0.1', 'localhost')}
  const r = await connectCluster(client, lab.kubeConfig, moved)
  t.same(r.actions.filter((a) => a.kind !== 'unchanged').map((a) => a.changes), [['kubernetes_host', 'token_reviewer_jwt (renewed)']])
  const config = (await client.read<{data: {kubernetes_host: string; token_reviewer_jwt_set: boolean}}>('auth/kubernetes/config'))!.data
  t.match(config, {kubernetes_host: moved.kubernetesHost, token_reviewer_jwt_set: true})
  const jwt = (await core.createNamespacedServiceAccountToken({name: 'alpha-api', namespace: 'alpha', body: {spec: {expirationSeconds: 600, audiences: []}}})).status!.token
  t.equal((await client.call('POST', 'auth/kubernetes/login', {body: {role: 'cloudtaser-lab-alpha', jwt}})).status, 200, 'logins still reviewed')
})

t.test('connect with a kubeconfig identity RBAC does not allow: the verb and resource are named, exit 4', async (t) => {
  const {KubeConfig} = await import('@kubernetes/client-node')
  await core.createNamespacedServiceAccount({namespace: 'alpha', body: {metadata: {name: 'nobody'}}})
  const token = (await core.createNamespacedServiceAccountToken({name: 'nobody', namespace: 'alpha', body: {spec: {expirationSeconds: 600, audiences: []}}})).status!.token
  const cluster = lab.kubeConfig.getCurrentCluster()!
  const kc = new KubeConfig()
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{name: 'nobody', token}],
    contexts: [{name: 'nobody', cluster: cluster.name, user: 'nobody'}],
    currentContext: 'nobody',
  })
  await t.rejects(connectCluster(client, kc, target, {dryRun: true}), {
    code: 'KUBE_FORBIDDEN',
    exitCode: 4,
    message: /^RBAC denied: missing permission to get namespaces/,
  })
})

t.test('apply-plan creates an s3Proxy\'s missing Transit mount and key and never changes an existing key; verify-plan reports a missing one', async (t) => {
  const s3Plan = (transitMount: string): MigrationPlan => ({
    apiVersion: 'cloudtaser.io/v1',
    kind: 'MigrationPlan',
    metadata: {name: 'lab-s3'},
    openbao: {kvMount: 'secret', authMount: 'kubernetes'},
    tenants: [
      {
        name: 'gamma',
        namespace: 'gamma',
        policy: 'cloudtaser-lab-gamma',
        role: 'cloudtaser-lab-gamma',
        workloads: (['api', 'worker'] as const).map((name) => ({
          kind: 'Deployment' as const,
          name,
          secrets: [],
          s3Proxy: {upstream: 'https://s3.eu-central-1.amazonaws.com', transitMount, transitKey: 'gamma-objects', credentials: 'secret/data/lab/gamma/s3'},
          status: {state: 'pending' as const},
        })),
      },
    ],
  })
  const plan = s3Plan('s3-keys')
  const KEY = 's3-keys/keys/gamma-objects'
  const transitActions = (r: {actions: Array<{resource: string; name: string; kind: string}>}) => r.actions.filter((a) => a.resource.startsWith('transit-')).map((a) => `${a.kind} ${a.resource} ${a.name}`)
  const mounted = async () => Object.keys((await client.read<{data: Record<string, unknown>}>('sys/mounts'))!.data).includes('s3-keys/')
  await baoCli(lab.baoAddr, lab.baoToken, 'kv', 'put', '-mount=secret', 'lab/gamma/s3', 'access_key_id=a', 'secret_access_key=b', 'upstream_access_key_id=c', 'upstream_secret_access_key=d')

  const before = await verifyPlan(client, plan)
  t.equal(before.ok, false, 'verify-plan fails: no key')
  t.match(before.transitKeys, [{mount: 's3-keys', key: 'gamma-objects', state: 'no-mount', workloads: ['gamma/Deployment/api', 'gamma/Deployment/worker']}])
  t.equal(before.secrets[0]!.state, 'ok', 'while the credentials are there')

  const dry = await applyPlan(client, plan, {dryRun: true})
  t.same(transitActions(dry), ['create transit-mount s3-keys/', `create transit-key ${KEY}`], 'the dry run shows the mount and the key, once for two workloads')
  t.equal(await mounted(), false, 'and writes nothing')

  const applied = await applyPlan(client, plan)
  t.same(applied.summary, {create: 4, update: 0, unchanged: 0, conflict: 0}, 'mount, key, policy, role')
  const key = (await client.read<{data: {type: string; exportable: boolean; latest_version: number}}>(KEY))!.data
  t.match(key, {type: 'aes256-gcm96', exportable: false, latest_version: 1})
  const after = await verifyPlan(client, plan)
  t.equal(after.ok, true, JSON.stringify(after.transitKeys))
  t.equal(after.transitKeys[0]!.state, 'present')

  // The key's owner rotates it and changes its config: apply-plan leaves all of it.
  await client.write(`${KEY}/rotate`, {})
  await client.write(`${KEY}/config`, {deletion_allowed: true, min_decryption_version: 2})
  const owned = JSON.stringify((await client.read<{data: unknown}>(KEY))!.data)
  t.same(transitActions(await applyPlan(client, plan)), ['unchanged transit-mount s3-keys/', `unchanged transit-key ${KEY}`])
  t.equal(JSON.stringify((await client.read<{data: unknown}>(KEY))!.data), owned, 'versions and config as the owner left them')

  // A deleted key: verify-plan names it; apply-plan creates the key in the existing mount.
  await client.call('DELETE', KEY)
  const gone = await verifyPlan(client, plan)
  t.equal(gone.ok, false)
  t.equal(gone.transitKeys[0]!.state, 'missing')
  t.same(transitActions(await applyPlan(client, plan)), ['unchanged transit-mount s3-keys/', `create transit-key ${KEY}`])
  t.equal((await client.read<{data: {latest_version: number}}>(KEY))!.data.latest_version, 1, 'a new key')

  // A plan naming a mount of another engine: a conflict, nothing written.
  const onKv = s3Plan('secret')
  const refused = await applyPlan(client, onKv)
  t.equal(refused.refused, true)
  t.match(refused.actions.find((a) => a.resource === 'transit-mount'), {kind: 'conflict', reason: /is a kv mount, not Transit/})
  t.equal(await client.read('secret/keys/gamma-objects'), undefined, 'no key written under the KV mount')
  t.match((await verifyPlan(client, onKv)).transitKeys, [{state: 'not-transit', mountType: 'kv'}])

  // A token that may not read the mount table is answered by the key read alone.
  await client.write('sys/policies/acl/gamma-verify', {policy: `path "secret/data/lab/gamma/s3" { capabilities = ["read"] }\npath "${KEY}" { capabilities = ["read"] }\n`}, 'PUT')
  const narrow = await client.call<{auth: {client_token: string}}>('POST', 'auth/token/create', {body: {policies: ['gamma-verify'], ttl: '5m'}})
  const verifier = clientFor(lab.baoAddr, narrow.body!.auth.client_token)
  t.teardown(() => verifier.close())
  t.equal((await verifyPlan(verifier, plan)).transitKeys[0]!.state, 'present', 'without sys/mounts')
  await client.write(`${KEY}/config`, {deletion_allowed: true})
  await client.call('DELETE', KEY)
  t.equal((await verifyPlan(verifier, plan)).transitKeys[0]!.state, 'missing', 'and a missing key still reads as missing')
  // A 403 on the key: which grant settles it depends on whether the mount table was readable.
  await client.write('sys/policies/acl/gamma-blind', {policy: 'path "secret/data/lab/gamma/s3" { capabilities = ["read"] }\n'}, 'PUT')
  await client.write('sys/policies/acl/gamma-mounts', {policy: 'path "secret/data/lab/gamma/s3" { capabilities = ["read"] }\npath "sys/mounts" { capabilities = ["read"] }\n'}, 'PUT')
  for (const [policy, path] of [['gamma-blind', 'sys/mounts'], ['gamma-mounts', KEY]] as const) {
    const token = (await client.call<{auth: {client_token: string}}>('POST', 'auth/token/create', {body: {policies: [policy], ttl: '5m'}})).body!.auth.client_token
    const c = clientFor(lab.baoAddr, token)
    await t.rejects(verifyPlan(c, plan), {code: 'BAO_PERMISSION_DENIED', message: `permission denied: GET ${path} needs the "read" capability on "${path}"`}, `${policy}: names ${path}`)
    await c.close()
  }
})
