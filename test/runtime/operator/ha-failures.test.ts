// What an operator replica does when it cannot get its TLS material, against the lab's real
// kube-apiserver and OpenBao: OpenBao unreachable at start -> alive, /readyz 503 with the reason,
// retries logged with their code, never an exit; a login refused -> ready without a restart once
// the role exists; bad settings -> a clear usage or configuration error at once. And the
// fallback backend: loudly warned, and its Secret is what `kubectl get secrets -A` then shows.
import t, {type Test} from 'tap'
import {createServer} from 'node:net'
import {CoreV1Api, RbacAuthorizationV1Api} from '@kubernetes/client-node'
import {startLab} from '../../../lib/lab/index.js'
import {freePorts} from '../../../lib/lab/net.js'
import {runCli} from '../../helpers/cli.js'
import {eventually} from '../../lib/lab/helpers.js'
import {cloudtaserSecrets, FALLBACK_RBAC, liveCaBundle, NS, pemsOf, prepare, SA, sha256Of, startReplica, type Replica} from './ha-fixture.js'

const lab = await startLab()
t.teardown(() => lab.stop())
const fx = await prepare(lab)
t.teardown(() => fx.cleanup())
const core = lab.kubeConfig.makeApiClient(CoreV1Api)
const replicas: Replica[] = []
t.teardown(() => replicas.forEach((r) => r.child.kill('SIGKILL')))
const ports = await freePorts(4)

const replica = async (name: string, args: string[], env: NodeJS.ProcessEnv = {BAO_ADDR: lab.baoAddr}) => {
  const {kubeconfig, tokenFile} = await fx.identityFiles(name)
  const r = startReplica(name, ['--sa-token-file', tokenFile, '--kubeconfig', kubeconfig, '--host', '127.0.0.1', '--lease-duration', '3s', '--poll-interval', '1s', '--rotation-overlap', '2s', ...args], env)
  replicas.push(r)
  return r
}
const stop = async (t: Test, r: Replica) => {
  r.child.kill('SIGTERM')
  t.equal(await r.exited, 0, `${r.name} stops cleanly`)
}

t.test('OpenBao unreachable at start: alive, not ready with the reason, retrying; never exits', async (t) => {
  const r = await replica('no-bao', ['--secret-backend', 'openbao', '--port', String(ports[0])], {BAO_ADDR: `http://127.0.0.1:${ports[3]}`})
  const failures = await eventually('three failed attempts', async () => {
    const f = r.events().filter((e) => e.event === 'material_unavailable')
    return f.length >= 3 ? f : undefined
  }, 60_000)
  t.match(failures[0], {level: 'error', code: 'BAO_UNREACHABLE', error: /OpenBao at http:\/\/127\.0\.0\.1:\d+ did not answer/, hint: /BAO_ADDR/})
  t.ok((failures[2]!.retry_in_ms as number) > (failures[0]!.retry_in_ms as number), 'backing off')
  t.equal((await r.ops('/healthz')).status, 200, 'alive: the kubelet does not restart it')
  const ready = await r.ops('/readyz')
  t.equal(ready.status, 503)
  t.match(ready.body, /not ready: BAO_UNREACHABLE: OpenBao at http:\/\/127\.0\.0\.1:\d+ did not answer/)
  t.match(await r.status(), {ready: false, reason: /BAO_UNREACHABLE/, leader: false})
  t.equal(r.child.exitCode, null)
  await stop(t, r)
})

t.test('login refused (role missing): not ready with the reason; ready without restart once the role exists', async (t) => {
  const r = await replica('late-role', ['--secret-backend', 'openbao', '--bao-role', 'cloudtaser-operator-late', '--port', String(ports[0])])
  await eventually('the refusal', async () => (r.events().some((e) => e.event === 'material_unavailable' && e.code === 'BAO_LOGIN_REFUSED') ? true : undefined), 30_000)
  t.match((await r.ops('/readyz')).body, /BAO_LOGIN_REFUSED: kubernetes login to auth\/kubernetes as role cloudtaser-operator-late refused/)
  // What `source configure --role cloudtaser-operator-late` would create.
  await fx.root.write('auth/kubernetes/role/cloudtaser-operator-late', {bound_service_account_names: [SA], bound_service_account_namespaces: [NS], token_policies: ['cloudtaser-operator'], token_ttl: 3600})
  await eventually('ready', async () => ((await r.ops('/readyz')).status === 200 ? true : undefined), 60_000)
  t.equal(r.events().filter((e) => e.event === 'listening').length, 1)
  await stop(t, r)
})

t.test('bad settings fail at once with a clear error, not a crash loop', async (t) => {
  const base = ['operator', 'run', '--wrapper-image', 'w:1', '--host', '127.0.0.1', '--port', '0', '--ops-port', '0', '--json']
  const overlap = await runCli([...base, '--secret-backend', 'openbao', '--rotation-overlap', '1s', '--poll-interval', '1s'], {env: {BAO_ADDR: lab.baoAddr}})
  t.equal(overlap.code, 2)
  t.match(JSON.parse(overlap.stdout), {error: {code: 'USAGE', message: /--rotation-overlap 1s must be at least twice --poll-interval/}})
  const noAddr = await runCli([...base, '--secret-backend', 'openbao', '--kubeconfig', lab.kubeconfigPath])
  t.equal(noAddr.code, 3)
  t.match(JSON.parse(noAddr.stdout), {error: {code: 'BAO_NO_ADDRESS'}})
  const holder = createServer()
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r))
  t.teardown(() => holder.close())
  const busy = (holder.address() as import('node:net').AddressInfo).port
  const clash = await runCli(['operator', 'run', '--wrapper-image', 'w:1', '--no-register', '--host', '127.0.0.1', '--port', '0', '--ops-host', '127.0.0.1', '--ops-port', String(busy), '--json'])
  t.equal(clash.code, 5)
  t.match(JSON.parse(clash.stdout), {error: {code: 'OPERATOR_LISTEN_FAILED', message: new RegExp(`ops port on 127\\.0\\.0\\.1:${busy}: EADDRINUSE`)}})
})

t.test('secretBackend kubernetes (fallback): warned at start, one Secret shared by two replicas', async (t) => {
  const rbac = lab.kubeConfig.makeApiClient(RbacAuthorizationV1Api)
  await rbac.createNamespacedRole({namespace: NS, body: {metadata: {name: 'cloudtaser-operator-fallback'}, rules: FALLBACK_RBAC}})
  await rbac.createNamespacedRoleBinding({
    namespace: NS,
    body: {metadata: {name: 'cloudtaser-operator-fallback'}, roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'cloudtaser-operator-fallback'}, subjects: [{kind: 'ServiceAccount', name: SA, namespace: NS}]},
  })
  t.same(await cloudtaserSecrets(lab), [], 'none before')
  // As the chart renders it: empty, with Helm's ownership marks.
  const helm = {labels: {'app.kubernetes.io/managed-by': 'Helm'}, annotations: {'meta.helm.sh/release-name': 'cloudtaser'}}
  await core.createNamespacedSecret({namespace: NS, body: {metadata: {name: 'cloudtaser-operator-pki', ...helm}, type: 'Opaque'}})
  const args = ['--secret-backend', 'kubernetes', '--port', String(ports[1]), '--reuse-port']
  const [a, b] = await Promise.all([replica('fallback-a', args, {}), replica('fallback-b', args, {})])
  await Promise.all([a, b].map((r) => eventually(`${r.name} ready`, async () => ((await r.ops('/readyz')).status === 200 ? true : undefined), 60_000)))
  for (const r of [a, b]) {
    const warn = r.events().find((e) => e.event === 'secret_backend_kubernetes')
    t.match(warn, {level: 'warn', where: `Kubernetes Secret ${NS}/cloudtaser-operator-pki`, warning: /CA key and serving key are kept in a Kubernetes Secret/}, `${r.name} warns`)
    t.equal(r.events()[0]!.event, 'secret_backend_kubernetes', 'first thing it says')
  }
  t.same(await cloudtaserSecrets(lab), [`${NS}/cloudtaser-operator-pki`], 'the check of ha.test.ts finds it')
  const secret = await core.readNamespacedSecret({name: 'cloudtaser-operator-pki', namespace: NS})
  t.match(secret.metadata, helm, "Helm's labels and annotations kept")
  t.ok(secret.data?.['ca.key'], 'the key material is in the Secret: what the warning is about')
  const [sa, sb] = await Promise.all([a.status(), b.status()])
  t.equal(sa.material!.signerSha256, sb.material!.signerSha256, 'one CA')
  const bundle = await eventually('caBundle', async () => {
    const live = await liveCaBundle(lab).catch(() => '')
    return pemsOf(live).map(sha256Of)[0] === sa.material!.signerSha256 ? live : undefined
  })
  t.ok(bundle)
  t.equal([a, b].filter((r) => r.events().some((e) => e.event === 'material_created')).length, 1, 'created once (a conflict for the other)')
  await Promise.all([stop(t, a), stop(t, b)])
})
