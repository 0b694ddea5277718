// Reverse-connect on the lab's node: no beacon. The OpenBao side (a network namespace holding
// OpenBao and the bridge) reaches exactly one thing outside itself, the broker's NodePort; the
// cluster reaches nothing of the OpenBao side. The broker is installed by `target install --mode
// reverse`, the bridge dials the endpoint `source register --reverse-endpoint` recorded, and a
// Deployment protected through the plan workflow gets its secret through that one connection.
import t from 'tap'
import {spawnSync} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import jsyaml from 'js-yaml'
import {startBeaconSide} from '../../lib/lab/index.js'
import {bao} from '../lib/lab/helpers.js'
import {digestApp, root, startLabSession, until} from './lab-session.js'

const {work, labEnv, images, cli, kubectl} = startLabSession(t, 'reverse', 'reverse@cloudtaser', {install: false})
const side = await startBeaconSide({beacon: false})
t.teardown(() => side.stop())
const {openbao, netns: euNs} = side
const bridgeLog = side.logs.bridge
const eu = (method: string, path: string, body?: unknown) => bao(openbao.addr, openbao.token, method, path, body)
const onEu = (args: string[]) => {
  const r = spawnSync(process.execPath, [join(root, 'bin/run.js'), ...args], {env: {...process.env, BAO_ADDR: openbao.addr, BAO_TOKEN: openbao.token}, encoding: 'utf8'})
  if (r.status !== 0) throw new Error(`${args.join(' ')}: exit ${r.status}\n${r.stdout}${r.stderr}`)
  return r.stdout
}
/** A TCP connect from inside the OpenBao side: 'reached' or the error code. */
const fromEu = (host: string, port: number) =>
  spawnSync('ip', ['netns', 'exec', euNs, process.execPath, '-e', `require('net').connect({host: ${JSON.stringify(host)}, port: ${port}, timeout: 3000}).on('connect', () => { console.log('reached'); process.exit(0) }).on('error', (e) => { console.log(e.code); process.exit(1) }).on('timeout', () => { console.log('timeout'); process.exit(1) })`], {encoding: 'utf8'}).stdout.trim()

const fingerprint = (JSON.parse(kubectl(['get', 'namespace', 'kube-system', '-o', 'json']).stdout) as {metadata: {uid: string}}).metadata.uid
const pin = (JSON.parse(onEu(['source', 'register', '--fingerprint', fingerprint, '--json'])) as {infoHashes: {operational: string}}).infoHashes.operational
const node = JSON.parse(kubectl(['get', 'nodes', '-o', 'json']).stdout).items[0] as {status: {addresses: Array<{type: string; address: string}>}}
const nodeIp = node.status.addresses.find((a) => a.type === 'InternalIP')!.address
const apiserver = new URL(labEnv.BAO_ADDR!).hostname
const NS = 'reverse-demo'
const BROKER_URL = 'https://cloudtaser-broker.cloudtaser-system.svc:8200'
const canary = `canary-reverse-e2e-${randomBytes(8).toString('hex')}`
const base = images.find((i) => i.name === 'base')!.ref

t.test('target install --mode reverse; register --reverse-endpoint; the OpenBao side reaches the NodePort and nothing else', async (t) => {
  cli(['target', 'install', '--mode', 'reverse', '--ca-sha256', pin, '--auth-mount', 'k8s-rev', '--set', 'operator.broker.reverse.service.type=NodePort', '--set', 'operator.ha=false', '--set', 'operator.replicas=1', '--set', `operator.registryMirrors[0]=cloudtaser.lab=http://${labEnv.CLOUDTASER_LAB_REGISTRY}`, '--set', 'ebpf.enabled=false'])
  const svc = JSON.parse(kubectl(['-n', 'cloudtaser-system', 'get', 'service', 'cloudtaser-broker-tunnel', '-o', 'json']).stdout) as {spec: {type: string; ports: Array<{nodePort: number}>}}
  t.equal(svc.spec.type, 'NodePort')
  const nodePort = svc.spec.ports[0]!.nodePort
  // The node's network namespace: the one holding its address.
  const nodeNetns = spawnSync('ip', ['netns', 'list'], {encoding: 'utf8'}).stdout.split('\n').map((l) => l.split(' ')[0]!).find((n) => n && spawnSync('ip', ['-n', n, '-o', 'addr'], {encoding: 'utf8'}).stdout.includes(`inet ${nodeIp}/`))!
  side.openOnlyTo(nodeIp, nodePort, {netns: nodeNetns, via: apiserver})
  onEu(['source', 'register', '--fingerprint', fingerprint, '--reverse-endpoint', `${nodeIp}:${nodePort}`])
  await side.startBridge({beacon: false})

  await until('the broker\'s tunnel', async () => (/"event":"tunnel_up"/.test(kubectl(['-n', 'cloudtaser-system', 'logs', 'deployment/cloudtaser-broker'], {allowFail: true}).stdout) ? true : undefined))
  // The bridge's lines arrive on its stderr pipe, read between polls: wait for them too.
  await until('the bridge\'s bootstrap line', async () => (/"event":"bootstrap_issued"/.test(bridgeLog.join('')) ? true : undefined), 10_000)
  t.pass('the broker bootstrapped through the connection the bridge made')
  t.match(bridgeLog.join(''), new RegExp(`"event":"cluster_rooms"[^\\n]*"via":"reverse-connect ${nodeIp}:${nodePort}"`), 'the bridge dialled the registered endpoint')
  // The tunnel is up, so the endpoint works; everything else is shut.
  t.not(fromEu(nodeIp, 10250), 'reached', `the OpenBao side cannot reach the kubelet on the same node (${fromEu(nodeIp, 10250)})`)
  t.not(fromEu(apiserver, 6443), 'reached', `nor the apiserver (${fromEu(apiserver, 6443)})`)

  await until('the bridge to record the cluster\'s keys', async () => (/"event":"jwks_recorded"/.test(bridgeLog.join('')) ? true : undefined), 30_000)
  onEu(['source', 'configure', '--jwt-from-registration', fingerprint, '--auth-mount', 'k8s-rev'])
  kubectl(['-n', 'cloudtaser-system', 'rollout', 'status', 'deployment/cloudtaser-operator', '--timeout=300s'])
  t.pass('the operator is Ready, logged in to OpenBao through the broker and the bridge that dialled in')
})

t.test('a Pod cannot reach the OpenBao side; the plan workflow protects a Deployment, which gets its secret through the broker', async (t) => {
  kubectl(['create', 'namespace', NS])
  const probe = {apiVersion: 'v1', kind: 'Pod', metadata: {name: 'reach', namespace: NS}, spec: {restartPolicy: 'Never', containers: [{name: 'probe', image: `cloudtaser.lab/${base}`, command: ['/bin/sh', '-c', `timeout 5 wget -q -O /dev/null ${openbao.addr}/v1/sys/health && echo bao-reached || echo bao-unreachable`]}]}}
  kubectl(['apply', '-f', '-'], {input: JSON.stringify(probe)})
  const out = await until('the probe Pod', async () => {
    const log = kubectl(['-n', NS, 'logs', 'reach'], {allowFail: true}).stdout
    return /bao-(un)?reach/.test(log) ? log : undefined
  }, 90_000).catch((err: Error) => {
    t.comment(kubectl(['-n', NS, 'describe', 'pod', 'reach'], {allowFail: true}).stdout)
    t.comment(kubectl(['-n', NS, 'logs', 'reach'], {allowFail: true}))
    throw err
  })
  t.match(out, /bao-unreachable/, 'a Pod cannot reach OpenBao')

  kubectl(['apply', '-f', '-'], {input: digestApp(NS, `cloudtaser.lab/${base}`, canary).map((o) => JSON.stringify(o)).join('\n')})
  const planFile = join(work, 'plan.yaml')
  cli(['target', 'discover', '-n', NS, '-o', planFile, '--cluster-name', 'lab', '--vault-address', BROKER_URL, '--auth-mount', 'k8s-rev'])
  onEu(['source', 'apply-plan', planFile])
  const plan = jsyaml.load(readFileSync(planFile, 'utf8')) as {tenants: Array<{workloads: Array<{secrets: Array<{vaultPath: string}>}>}>}
  await eu('POST', plan.tenants[0]!.workloads[0]!.secrets[0]!.vaultPath, {data: {password: canary}})
  onEu(['source', 'verify-plan', planFile])
  cli(['target', 'protect', '--plan', planFile, '--yes', '--wait'])
  const pods = JSON.parse(kubectl(['-n', NS, 'get', 'pods', '-l', 'app=app', '-o', 'json']).stdout).items as Array<{metadata: {name: string; deletionTimestamp?: string}; spec: {initContainers?: Array<{name: string}>}}>
  const wrapped = pods.find((p) => !p.metadata.deletionTimestamp && p.spec.initContainers?.[0]?.name === 'cloudtaser-init')!
  const printed = await until('the app\'s digest', async () => /^digest ([0-9a-f]{64})$/m.exec(kubectl(['-n', NS, 'logs', wrapped.metadata.name, '-c', 'app'], {allowFail: true}).stdout)?.[1])
  t.equal(printed, createHash('sha256').update(canary).digest('hex'), 'the wrapped app got the value from the OpenBao side, through the connection the bridge made')
  await until('the bridge\'s login line', async () => (new RegExp(`"event":"login_forwarded"[^\\n]*"namespace":"${NS}"`).test(bridgeLog.join('')) ? true : undefined), 10_000)
  for (const l of [bridgeLog.join(''), kubectl(['-n', 'cloudtaser-system', 'logs', 'deployment/cloudtaser-broker']).stdout]) t.notOk(l.includes(canary), 'the secret is in no log of bridge or broker')
  // The bridge's ops port, as Prometheus on the OpenBao side would scrape it.
  const opsPort = /"event":"ops_listening"[^\n]*"port":(\d+)/.exec(bridgeLog.join(''))![1]
  const metrics = spawnSync('ip', ['netns', 'exec', euNs, process.execPath, '-e', `fetch('http://127.0.0.1:${opsPort}/metrics').then((r) => r.text()).then((b) => console.log(b))`], {encoding: 'utf8'}).stdout.split('\n')
  for (const line of ['cloudtaser_bridge_clusters{state="operational"} 1', 'cloudtaser_bridge_tunnels_open 1']) t.ok(metrics.includes(line), `bridge /metrics: ${line}`)
})
