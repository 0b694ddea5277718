// Beacon mode on the lab's node, three networks: the cluster (the node's network namespace, its
// Pods behind it), the OpenBao side (a namespace of its own holding OpenBao and the bridge, with a
// route to the host only) and the beacon (on the host, the "internet" both reach; lib/lab/beacon-side.ts). Neither side
// can open a connection to the other; the test shows that, then a protected Pod gets its secret
// from that OpenBao through the broker (installed by `target install --mode beacon`), the beacon
// and the bridge, each a real process as a user runs it.
import t from 'tap'
import {spawnSync} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import jsyaml from 'js-yaml'
import {kubeClient, resolveKubeconfig} from '../../lib/kube/kubeconfig.js'
import {startBeaconSide} from '../../lib/lab/index.js'
import {openBaoViaBroker} from '../../lib/openbao/via-broker.js'
import {loadPlan} from '../../lib/plan/io.js'
import {bao} from '../lib/lab/helpers.js'
import {digestApp, root, startLabSession, until} from './lab-session.js'

const {work, labEnv, images, cli, kubectl} = startLabSession(t, 'beacon', 'beacon@cloudtaser', {install: false})
const hostIp = new URL(labEnv.BAO_ADDR!).hostname
// The OpenBao side (OpenBao in a network namespace with a route to the host only) and the beacon on the host.
const side = await startBeaconSide()
t.teardown(() => side.stop())
const {openbao, netns: euNs, hostIp: euHostIp, beaconPort} = side
const [beaconLog, bridgeLog] = [side.logs.beacon, side.logs.bridge]
const eu = (method: string, path: string, body?: unknown) => bao(openbao.addr, openbao.token, method, path, body)

// OpenBao side, as its administrator: register the cluster (its fingerprint is public) and give
// the bridge its least-privilege token. The jwt auth method and the roles come later, from the
// keys the bridge records and from the plan.
const fingerprint = (JSON.parse(kubectl(['get', 'namespace', 'kube-system', '-o', 'json']).stdout) as {metadata: {uid: string}}).metadata.uid
const euEnv = {BAO_ADDR: openbao.addr, BAO_TOKEN: openbao.token}
const reg = JSON.parse(spawnSync(process.execPath, [join(root, 'bin/run.js'), 'source', 'register', '--fingerprint', fingerprint, '--json'], {env: {...process.env, ...euEnv}, encoding: 'utf8'}).stdout) as {infoHashes: {operational: string}}
const pin = reg.infoHashes.operational
const onEu = (args: string[]) => {
  const r = spawnSync(process.execPath, [join(root, 'bin/run.js'), ...args], {env: {...process.env, ...euEnv}, encoding: 'utf8'})
  if (r.status !== 0) throw new Error(`${args.join(' ')}: exit ${r.status}\n${r.stdout}${r.stderr}`)
  return r.stdout
}
const NS = 'beacon-demo'
const BROKER_URL = 'https://cloudtaser-broker.cloudtaser-system.svc:8200'
const canary = `canary-beacon-e2e-${randomBytes(8).toString('hex')}`

// The bridge, in the OpenBao side's namespace, dialling out to the beacon.
await side.startBridge()

const base = images.find((i) => i.name === 'base')!.ref
const probePod = (name: string, command: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {name, namespace: NS},
  spec: {restartPolicy: 'Never', containers: [{name: 'probe', image: `cloudtaser.lab/${base}`, command: ['/bin/sh', '-c', command]}]},
})

t.test('the two sides cannot reach each other; the OpenBao side reaches the beacon', async (t) => {
  kubectl(['create', 'namespace', NS])
  const url = `${openbao.addr}/v1/sys/health`
  kubectl(['apply', '-f', '-'], {input: JSON.stringify(probePod('reach', `timeout 5 wget -q -O /dev/null ${url} && echo bao-reached || echo bao-unreachable; timeout 5 wget -q -O /dev/null http://${labEnv.CLOUDTASER_LAB_REGISTRY}/v2/ && echo control-reached || echo control-unreachable`))})
  const out = await until('the probe Pod', async () => {
    const log = kubectl(['-n', NS, 'logs', 'reach'], {allowFail: true}).stdout
    return /control-(un)?reached/.test(log) ? log : undefined
  })
  t.match(out, /bao-unreachable/, 'a Pod cannot reach the OpenBao side')
  t.match(out, /control-reached/, 'the same probe reaches the lab registry (the probe works); the beacon is reached by the broker below')
  const fromEu = spawnSync('ip', ['netns', 'exec', euNs, process.execPath, '-e', `require('net').connect({host: ${JSON.stringify(hostIp)}, port: 6443, timeout: 3000}).on('connect', () => { console.log('reached'); process.exit(0) }).on('error', (e) => { console.log(e.code); process.exit(1) }).on('timeout', () => { console.log('timeout'); process.exit(1) })`], {encoding: 'utf8'})
  t.not(fromEu.status, 0, `the OpenBao side cannot reach the cluster's apiserver (${fromEu.stdout.trim()})`)
  const euToBeacon = spawnSync('ip', ['netns', 'exec', euNs, process.execPath, '-e', `require('net').connect({host: ${JSON.stringify(euHostIp)}, port: ${beaconPort}}).on('connect', () => process.exit(0)).on('error', () => process.exit(1))`])
  t.equal(euToBeacon.status, 0, 'the OpenBao side reaches the beacon')
})

t.test('target install --mode beacon: the broker bootstraps through the beacon and publishes the cluster CA; the operator logs in through it', async (t) => {
  // No --wait: the operator keeps its webhook material in OpenBao, which it reaches only once the
  // broker is up and the jwt mount exists, and that mount is made from keys the broker's tunnel brings.
  cli(['target', 'install', '--mode', 'beacon', '--beacon', `${hostIp}:${beaconPort}`, '--beacon-plain', '--ca-sha256', pin, '--auth-mount', 'k8s-beacon', '--set', 'operator.ha=false', '--set', 'operator.replicas=1', '--set', `operator.registryMirrors[0]=cloudtaser.lab=http://${labEnv.CLOUDTASER_LAB_REGISTRY}`, '--set', 'ebpf.enabled=false'])
  const ca = await until('the broker\'s CA ConfigMap', async () => {
    const r = kubectl(['-n', 'cloudtaser-system', 'get', 'configmap', 'cloudtaser-broker-ca', '-o', 'json'], {allowFail: true})
    return r.status === 0 ? (JSON.parse(r.stdout) as {data: {'ca.crt': string}}).data['ca.crt'] : undefined
  })
  const der = Buffer.from(ca.replace(/-----[^-]+-----|\s/g, ''), 'base64')
  t.equal(createHash('sha256').update(der).digest('hex'), pin, 'the published CA is the registered one')
  await until('the broker\'s tunnel', async () => (/"event":"tunnel_up"/.test(kubectl(['-n', 'cloudtaser-system', 'logs', 'deployment/cloudtaser-broker'], {allowFail: true}).stdout) ? true : undefined))
  await until('the bridge\'s bootstrap line', async () => (/"event":"bootstrap_issued"/.test(bridgeLog.join('')) ? true : undefined), 10_000)
  t.pass('the bridge issued the broker\'s certificate in the init room')
  await until('the bridge to record the cluster\'s keys', async () => (/"event":"jwks_recorded"/.test(bridgeLog.join('')) ? true : undefined), 30_000)
  const configured = JSON.parse(onEu(['source', 'configure', '--jwt-from-registration', fingerprint, '--auth-mount', 'k8s-beacon', '--json'])) as {actions: Array<{resource: string; kind: string}>}
  t.match(configured.actions, [{resource: 'auth-method', kind: 'create'}, {resource: 'auth-config', kind: 'create'}, {resource: 'policy', kind: 'create'}, {resource: 'role', kind: 'create'}], 'a jwt auth method from the recorded keys, the operator\'s policy and role')
  kubectl(['-n', 'cloudtaser-system', 'rollout', 'status', 'deployment/cloudtaser-operator', '--timeout=300s'])
  const own = (JSON.parse(kubectl(['get', 'secrets', '-A', '-o', 'json']).stdout) as {items: Array<{metadata: {namespace: string; name: string}}>}).items.filter((s) => /cloudtaser/.test(`${s.metadata.namespace}/${s.metadata.name}`))
  t.same(own, [], 'the operator is Ready with its webhook material in OpenBao: no Kubernetes Secret of cloudtaser\'s')
})

t.test('the plan workflow through the beacon: discover, jwt auth from the bridge\'s record, apply-plan, target migrate through the broker, protect; the Pod gets its secret', async (t) => {
  const app = digestApp(NS, `cloudtaser.lab/${base}`, canary)
  kubectl(['apply', '-f', '-'], {input: app.map((o) => JSON.stringify(o)).join('\n')})
  kubectl(['-n', NS, 'rollout', 'status', 'deployment/app', '--timeout=180s'])
  const digest = createHash('sha256').update(canary).digest('hex')
  const printed = (pod?: string) => until('the app\'s digest', async () => /^digest ([0-9a-f]{64})$/m.exec(kubectl(['-n', NS, 'logs', pod ?? 'deployment/app', '-c', 'app'], {allowFail: true}).stdout)?.[1])
  t.equal(await printed(), digest, 'the baseline: from the Kubernetes Secret')

  // Cluster side: the plan names the broker as the address and the jwt auth mount.
  const planFile = join(work, 'plan.yaml')
  cli(['target', 'discover', '-n', NS, '-o', planFile, '--cluster-name', 'lab', '--vault-address', BROKER_URL, '--auth-mount', 'k8s-beacon'])
  // OpenBao side (the plan crossed the air gap): the tenant's policy and jwt role, and the
  // migrator's (may write exactly the plan's paths), so the values can go in from the cluster side.
  onEu(['source', 'apply-plan', planFile, '--allow-cluster-migrate'])
  const again = JSON.parse(onEu(['source', 'apply-plan', planFile, '--allow-cluster-migrate', '--json'])) as {actions: Array<{resource: string; name: string; kind: string}>}
  t.same(again.actions.map((a) => a.kind), again.actions.map(() => 'unchanged'), 'a second apply-plan reads the jwt role back as what the plan wants')
  const role = (await eu('GET', `auth/k8s-beacon/role/${again.actions.find((a) => a.resource === 'role')!.name}`)).body as {data: {role_type: string; bound_claims: {sub: string[]}; bound_audiences: string[]}}
  t.match(role.data, {role_type: 'jwt', bound_claims: {sub: [`system:serviceaccount:${NS}:default`]}, bound_audiences: ['cloudtaser']}, 'the tenant role binds the ServiceAccount\'s token subject and the broker audience')
  const migrator = (await eu('GET', 'auth/k8s-beacon/role/cloudtaser-migrate')).body as {data: {bound_claims: {sub: string[]}; bound_audiences: string[]; token_policies: string[]}}
  t.match(migrator.data, {bound_claims: {sub: ['system:serviceaccount:cloudtaser-system:cloudtaser-migrator']}, bound_audiences: ['cloudtaser'], token_policies: ['cloudtaser-migrate']}, 'the migrator role binds the chart\'s migrator ServiceAccount')
  // Cluster side: the Secret's value into OpenBao through the apiserver's service proxy, the broker, the beacon and the bridge (no BAO_TOKEN used).
  const t0 = Date.now()
  const migrated = cli(['target', 'migrate', '--plan', planFile, '--via-broker', '--json'])
  t.comment(`target migrate --via-broker, 1 Secret: ${Date.now() - t0} ms (the CLI process included)`)
  t.match(JSON.parse(migrated.stdout), {counts: {copied: 1}, processed: [{namespace: NS, name: 'db', outcome: 'copied', kvVersion: 1}]}, 'target migrate --via-broker copied the Secret, read it back and recorded it')
  t.notOk(migrated.stdout.includes(canary) || migrated.stderr.includes(canary), 'the value is not in its output')
  await until('the bridge\'s migrator login line', async () => (/"event":"login_forwarded"[^\n]*"serviceAccount":"cloudtaser-migrator"/.test(bridgeLog.join('')) ? true : undefined), 10_000)
  t.pass('the bridge checked the migrator\'s ServiceAccount token before its login went on')
  t.equal(cli(['target', 'migrate', '--plan', planFile, '--via-broker', '--check'], {allowFail: true}).status, 0, '--check through the broker: in sync')
  onEu(['source', 'verify-plan', planFile])
  // Cluster side again.
  cli(['target', 'protect', '--plan', planFile, '--yes', '--wait'])
  const pods = JSON.parse(kubectl(['-n', NS, 'get', 'pods', '-l', 'app=app', '-o', 'json']).stdout).items as Array<{metadata: {name: string; deletionTimestamp?: string}; spec: {initContainers?: Array<{name: string}>; containers: Array<{env: Array<{name: string; value?: string}>}>}}>
  const wrapped = pods.find((p) => !p.metadata.deletionTimestamp && p.spec.initContainers?.[0]?.name === 'cloudtaser-init')!
  t.equal(await printed(wrapped.metadata.name), digest, 'the wrapped app got the value from the OpenBao side')
  t.equal(wrapped.spec.containers[0]!.env.find((e) => e.name === 'CLOUDTASER_VAULT_ADDR')?.value, BROKER_URL, 'its only OpenBao address is the broker')
  await until('the bridge\'s login line', async () => (new RegExp(`"event":"login_forwarded"[^\\n]*"namespace":"${NS}"`).test(bridgeLog.join('')) ? true : undefined), 10_000)
  t.pass('the bridge checked the Pod\'s ServiceAccount token before the login went on')
  const logs = [bridgeLog.join(''), beaconLog.join(''), kubectl(['-n', 'cloudtaser-system', 'logs', 'deployment/cloudtaser-broker']).stdout]
  for (const l of logs) t.notOk(l.includes(canary), 'the secret is in no log of bridge, beacon or broker')
})

t.test('the migrator may write the plan\'s paths only, and only a caller RBAC lets mint its token', async (t) => {
  const planFile = join(work, 'plan.yaml')
  const {plan} = await loadPlan(planFile)
  const kc = kubeClient(resolveKubeconfig({kubeconfig: labEnv.KUBECONFIG}))
  const bao = await openBaoViaBroker(kc, plan, {timeoutMs: 10_000})
  try {
    await t.rejects(bao.call('POST', 'secret/data/lab/beacon-demo/not-in-plan', {body: {data: {x: 'y'}}}), {code: 'BAO_PERMISSION_DENIED'}, 'a write outside the plan\'s paths: OpenBao refuses it (403)')
    await t.rejects(bao.call('GET', 'secret/data/cloudtaser/system/webhook-tls'), {code: 'BAO_PERMISSION_DENIED'}, 'and a read of another secret (the operator\'s)')
    t.equal((await bao.read<{data: {metadata: {version: number}}}>(`${plan.tenants[0]!.workloads[0]!.secrets[0]!.vaultPath}`))?.data.metadata.version, 1, 'the same token reads the plan\'s path (the control)')
    // The tunnel's 1 MiB body limit (a Secret's KV JSON above it, e.g. a binary value over ~750 KiB in base64), on this path.
    const big = Buffer.concat([Buffer.from('{"data":{"blob":"'), Buffer.alloc(1100 * 1024, 'a'), Buffer.from('"},"options":{"cas":1}}')])
    await t.rejects(bao.call('POST', plan.tenants[0]!.workloads[0]!.secrets[0]!.vaultPath, {rawBody: big}), {code: 'BAO_REQUEST_FAILED', message: /HTTP 413: cloudtaser broker: request body over 1048576 bytes/}, 'a body over 1 MiB: the broker\'s 413')
    t.equal((await bao.read<{data: {current_version: number}}>(plan.tenants[0]!.workloads[0]!.secrets[0]!.vaultPath.replace('/data/', '/metadata/')))?.data.current_version, 1, 'nothing written (still KV version 1)')
  } finally {
    await bao.close()
  }
  t.equal((await bao.call('GET', 'auth/token/lookup-self', {accept: [403]})).status, 403, 'closing the session revoked its OpenBao token')
  await t.rejects(openBaoViaBroker(kc, {...plan, openbao: {...plan.openbao, address: 'https://cloudtaser-broker.elsewhere.svc:8200'}}, {timeoutMs: 10_000}), {code: 'MIGRATE_NO_MIGRATOR', exitCode: 3}, 'no migrator ServiceAccount where the plan says the broker is: a configuration error, before any OpenBao request')
  // Someone who may read the Secrets of the namespace, but may not mint the migrator's token.
  kubectl(['-n', NS, 'create', 'serviceaccount', 'reader'])
  kubectl(['-n', NS, 'create', 'role', 'secret-reader', '--verb=get,list', '--resource=secrets'])
  kubectl(['-n', NS, 'create', 'rolebinding', 'secret-reader', '--role=secret-reader', `--serviceaccount=${NS}:reader`])
  const admin = jsyaml.load(readFileSync(labEnv.KUBECONFIG!, 'utf8')) as {clusters: Array<{name: string; cluster: unknown}>}
  const readerKc = join(work, 'reader.kubeconfig')
  const token = kubectl(['-n', NS, 'create', 'token', 'reader', '--duration=10m']).stdout.trim()
  writeFileSync(readerKc, jsyaml.dump({apiVersion: 'v1', kind: 'Config', clusters: admin.clusters, users: [{name: 'reader', user: {token}}], contexts: [{name: 'reader', context: {cluster: admin.clusters[0]!.name, user: 'reader'}}], 'current-context': 'reader'}), {mode: 0o600})
  const r = spawnSync(process.execPath, [join(root, 'bin/run.js'), 'target', 'migrate', '--plan', planFile, '--via-broker', '--json'], {env: {...process.env, KUBECONFIG: readerKc}, encoding: 'utf8'})
  t.equal(r.status, 4, 'exit 4 (authorisation)')
  t.match(JSON.parse(r.stdout), {error: {code: 'KUBE_FORBIDDEN', message: /create serviceaccounts\/token in namespace cloudtaser-system/}}, 'the RBAC refusal names what is missing')
  // Allowed to mint the token, but not to go through the apiserver's service proxy: the apiserver's refusal, not OpenBao's.
  kubectl(['-n', 'cloudtaser-system', 'create', 'role', 'migrator-token', '--verb=create', '--resource=serviceaccounts/token', '--resource-name=cloudtaser-migrator'])
  kubectl(['-n', 'cloudtaser-system', 'create', 'rolebinding', 'migrator-token', '--role=migrator-token', `--serviceaccount=${NS}:reader`])
  const proxied = spawnSync(process.execPath, [join(root, 'bin/run.js'), 'target', 'migrate', '--plan', planFile, '--via-broker', '--json'], {env: {...process.env, KUBECONFIG: readerKc}, encoding: 'utf8'})
  t.match({status: proxied.status, out: JSON.parse(proxied.stdout)}, {status: 4, out: {error: {code: 'KUBE_FORBIDDEN', message: /create services\/proxy in namespace cloudtaser-system/}}}, 'a caller who may mint the token but not use services/proxy: exit 4, the verb named')
  // After the cutover, apply-plan without the flag takes the cluster side's access away again.
  const revoked = JSON.parse(onEu(['source', 'apply-plan', planFile, '--json'])) as {summary: {delete?: number}}
  t.equal(revoked.summary.delete, 2, 'apply-plan without --allow-cluster-migrate deletes the migrator\'s role and policy')
  const after = cli(['target', 'migrate', '--plan', planFile, '--via-broker', '--check', '--json'], {allowFail: true})
  t.match({status: after.status, out: JSON.parse(after.stdout)}, {status: 4, out: {error: {code: 'BAO_LOGIN_REFUSED', hint: /--allow-cluster-migrate/}}}, 'then the migrator\'s login is refused, and the hint says how to allow it')
})

t.test('the broker Pod deleted: its replacement renews with its ServiceAccount, and a new app Pod gets its secret', async (t) => {
  const brokerPod = () => (JSON.parse(kubectl(['-n', 'cloudtaser-system', 'get', 'pods', '-l', 'app.kubernetes.io/component=broker', '-o', 'json']).stdout).items as Array<{metadata: {name: string; deletionTimestamp?: string}}>).filter((p) => !p.metadata.deletionTimestamp)
  const old = brokerPod()[0]!.metadata.name
  kubectl(['-n', 'cloudtaser-system', 'delete', 'pod', old, '--wait=true'])
  await until('the new broker\'s tunnel', async () => {
    const now = brokerPod()
    if (now.length !== 1 || now[0]!.metadata.name === old) return undefined
    return /"event":"tunnel_up"/.test(kubectl(['-n', 'cloudtaser-system', 'logs', now[0]!.metadata.name], {allowFail: true}).stdout) ? true : undefined
  })
  await until('the bridge\'s renewal line', async () => (/"event":"bootstrap_issued"[^\n]*"renewal":true/.test(bridgeLog.join('')) ? true : undefined), 10_000)
  t.pass('the bridge renewed the new broker\'s certificate (its key never left the old Pod, which is gone)')
  kubectl(['-n', NS, 'rollout', 'restart', 'deployment/app'])
  kubectl(['-n', NS, 'rollout', 'status', 'deployment/app', '--timeout=180s'])
  const pods = JSON.parse(kubectl(['-n', NS, 'get', 'pods', '-l', 'app=app', '-o', 'json']).stdout).items as Array<{metadata: {name: string; deletionTimestamp?: string}}>
  const fresh = pods.find((p) => !p.metadata.deletionTimestamp)!.metadata.name
  const printed = await until('the new app Pod\'s digest', async () => /^digest ([0-9a-f]{64})$/m.exec(kubectl(['-n', NS, 'logs', fresh, '-c', 'app'], {allowFail: true}).stdout)?.[1])
  t.equal(printed, createHash('sha256').update(canary).digest('hex'), 'a Pod started after the broker restart gets its secret')
})
