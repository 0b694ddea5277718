#!/usr/bin/env node
// `target migrate --via-broker` against direct, in one run on the lab (kube-apiserver and OpenBao,
// no node): the same copy code, the same Secrets, fresh KV paths each way, concurrency 8.
//   direct:      migrate -> OpenBao (root token, loopback)
//   via broker:  migrate -> apiserver service proxy -> broker (TLS) -> beacon (own process) -> bridge -> OpenBao,
//                logged in as the migrator role apply-plan --allow-cluster-migrate wrote
//   broker, no apiserver: the same, straight to the broker's listener (where the time goes)
// The broker and bridge run in this process (as in bench/beacon-fetch.mjs); the apiserver reaches
// the broker through a selector-less Service whose Endpoints name this host's address.
// Run after `npm run build`: node bench/migrate-broker.mjs   (SECRETS=200 NAMESPACES=4 CONCURRENCY=8)
import {spawn} from 'node:child_process'
import {createPublicKey} from 'node:crypto'
import {networkInterfaces} from 'node:os'

const SECRETS = Number(process.env.SECRETS ?? 200)
const NAMESPACES = Number(process.env.NAMESPACES ?? 4)
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 8)
const PER = SECRETS / NAMESPACES
const dist = new URL('../dist/', import.meta.url)
const imp = (p) => import(new URL(p, dist).href)
const {startLab} = await imp('lib/lab/index.js')
const {mapBounded} = await imp('lib/bounded.js')
const {kubeHttp} = await imp('lib/kube/http.js')
const {OpenBaoClient} = await imp('lib/openbao/client.js')
const {registerCluster} = await imp('lib/openbao/register.js')
const {HttpTransport} = await imp('lib/openbao/http-transport.js')
const {applyPlan} = await imp('lib/openbao/apply-plan.js')
const {openBaoViaBroker} = await imp('lib/openbao/via-broker.js')
const {loginKubernetes} = await imp('lib/openbao/login.js')
const {copySecrets} = await imp('lib/migrate/copy.js')
const {checkMigration} = await imp('lib/migrate/check.js')
const {startBridge} = await imp('runtime/bridge/bridge.js')
const {bridgeFleetPolicy} = await imp('lib/openbao/bridge-policy.js')
const {startBroker} = await imp('runtime/broker/broker.js')

// The apiserver's service proxy refuses loopback endpoints: the broker listens on this host's address.
const hostIp = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address
if (!hostIp) throw new Error('no non-loopback IPv4 address on this host for the broker')

const quiet = () => {}
const lab = await startLab({node: false})
const cleanup = []
process.on('exit', () => lab.stop())
try {
  const rootClient = new OpenBaoClient({addr: lab.baoAddr, token: lab.baoToken, tokenSource: 'flag', timeoutMs: 10_000, attempts: 2}, {connections: 16})
  cleanup.push(() => rootClient.close())
  const root = (method, path, body) => rootClient.call(method, path, {body})
  const kube = await kubeHttp(lab.kubeConfig, {maxSockets: 16})
  const post = async (path, body) => {
    const r = await kube.send('POST', path, {body: Buffer.from(JSON.stringify(body))})
    if (r.status >= 300 && r.status !== 409) throw new Error(`POST ${path}: ${r.status} ${r.bytes.toString().slice(0, 200)}`)
  }

  const beaconProc = spawn(process.execPath, ['bin/run.js', 'beacon', 'serve', '--plain', '--host', '127.0.0.1', '--port', '0', '--ops-host', '127.0.0.1', '--ops-port', '0'], {stdio: ['ignore', 'ignore', 'pipe'], cwd: new URL('..', import.meta.url).pathname})
  cleanup.push(() => beaconProc.kill('SIGKILL'))
  let beaconLog = ''
  const beaconPort = await new Promise((resolve, reject) => {
    beaconProc.stderr.on('data', (c) => {
      beaconLog += c
      const m = /"event":"listening"[^\n]*"port":(\d+)/.exec(beaconLog)
      if (m) resolve(Number(m[1]))
    })
    beaconProc.on('exit', () => reject(new Error(`beacon exited: ${beaconLog}`)))
  })
  const beacon = {address: `127.0.0.1:${beaconPort}`, tls: false}

  // OpenBao side: the registration, the bridge's token, a jwt mount from the cluster's keys.
  const fingerprint = (await kube.get('/api/v1/namespaces/kube-system')).metadata.uid
  const reg = await registerCluster(rootClient, {fingerprint, from: 'flag'})
  await root('PUT', 'sys/policies/acl/cloudtaser-bridge', {policy: bridgeFleetPolicy()})
  const bridgeToken = (await root('POST', 'auth/token/create', {policies: ['cloudtaser-bridge'], no_default_policy: true, ttl: '1h'})).body.auth.client_token
  const issuer = (await kube.get('/.well-known/openid-configuration')).issuer
  const jwks = await kube.get('/openid/v1/jwks', 'application/jwk-set+json')
  await root('POST', 'sys/auth/k8s-beacon', {type: 'jwt'})
  await root('POST', 'auth/k8s-beacon/config', {jwt_validation_pubkeys: jwks.keys.map((k) => createPublicKey({key: k, format: 'jwk'}).export({type: 'spki', format: 'pem'})), bound_issuer: issuer})

  const baoTransport = new HttpTransport()
  const bridgeClient = new OpenBaoClient({addr: lab.baoAddr, token: bridgeToken, tokenSource: 'flag', timeoutMs: 5000, attempts: 2})
  const bridge = await startBridge({client: bridgeClient, baoAddr: lab.baoAddr, transport: baoTransport, beacon, logger: quiet, refreshMs: 600_000})
  cleanup.push(() => bridge.stop(), () => bridgeClient.close(), () => baoTransport.close())
  const broker = await startBroker({fingerprint, beacon, kube, caPin: reg.infoHashes.operational, host: hostIp, port: 0, opsHost: '127.0.0.1', opsPort: 0, dnsNames: [], ipAddresses: [hostIp], logger: quiet})
  cleanup.push(() => broker.stop())
  await broker.identity
  for (const end = Date.now() + 30_000; broker.state().tunnel !== 'up'; await new Promise((r) => setTimeout(r, 50))) if (Date.now() > end) throw new Error('the tunnel did not come up')
  const brokerPort = Number(new URL(broker.url()).port)

  // Cluster side: what the chart makes (the migrator ServiceAccount, the broker's Service), and the Secrets.
  await post('/api/v1/namespaces', {metadata: {name: 'cloudtaser-system'}})
  await post('/api/v1/namespaces/cloudtaser-system/serviceaccounts', {metadata: {name: 'cloudtaser-migrator'}})
  await post('/api/v1/namespaces/cloudtaser-system/services', {metadata: {name: 'cloudtaser-broker'}, spec: {ports: [{name: 'https', port: 8200, targetPort: brokerPort, protocol: 'TCP'}]}})
  // The apiserver proxies only to addresses that are Pods' (isValidAddress): a Pod that never runs, whose status names this host.
  await post('/api/v1/namespaces/cloudtaser-system/pods', {metadata: {name: 'broker-stand-in'}, spec: {nodeName: 'nowhere', containers: [{name: 'broker', image: 'none'}]}})
  const st = await kube.send('PATCH', '/api/v1/namespaces/cloudtaser-system/pods/broker-stand-in/status', {body: Buffer.from(JSON.stringify({status: {podIP: hostIp, podIPs: [{ip: hostIp}]}})), contentType: 'application/merge-patch+json'})
  if (st.status !== 200) throw new Error(`pod status: ${st.status} ${st.bytes.toString().slice(0, 200)}`)
  await post('/api/v1/namespaces/cloudtaser-system/endpoints', {metadata: {name: 'cloudtaser-broker'}, subsets: [{addresses: [{ip: hostIp, targetRef: {kind: 'Pod', namespace: 'cloudtaser-system', name: 'broker-stand-in'}}], ports: [{name: 'https', port: brokerPort, protocol: 'TCP'}]}]})
  const value = (n) => Buffer.from(`value-${n}-${'x'.repeat(40)}`).toString('base64')
  for (let i = 0; i < NAMESPACES; i++) {
    await post('/api/v1/namespaces', {metadata: {name: `bench-${i}`}})
    await mapBounded(Array.from({length: PER}, (_, j) => j), 16, (j) => post(`/api/v1/namespaces/bench-${i}/secrets`, {metadata: {name: `s-${j}`}, data: {username: value(`u${j}`), password: value(`p${j}`)}}))
  }
  const planFor = (prefix) => ({
    apiVersion: 'cloudtaser.io/v1',
    kind: 'MigrationPlan',
    metadata: {name: 'bench', cluster: {name: 'bench', fingerprint}},
    openbao: {kvMount: 'secret', authMount: 'k8s-beacon', address: 'https://cloudtaser-broker.cloudtaser-system.svc:8200'},
    tenants: Array.from({length: NAMESPACES}, (_, i) => ({
      name: `bench-${i}`,
      namespace: `bench-${i}`,
      workloads: Array.from({length: PER}, (_, j) => ({
        kind: 'Deployment',
        name: `svc-${j}`,
        secrets: [{source: {name: `s-${j}`}, vaultPath: `secret/data/${prefix}/bench-${i}/s-${j}`, fields: {username: 'DB_USER', password: 'DB_PASSWORD'}}],
        status: {state: 'pending'},
      })),
    })),
  })
  // In memory: the plan saves go to a scratch file each way (the same cost both ways).
  const {mkdtempSync, writeFileSync, rmSync} = await import('node:fs')
  const {tmpdir} = await import('node:os')
  const {join} = await import('node:path')
  const {loadPlan, renderPlan} = await imp('lib/plan/io.js')
  const dir = mkdtempSync(join(tmpdir(), 'ct-bench-migrate-broker-'))
  cleanup.push(() => rmSync(dir, {recursive: true, force: true}))
  const loadFresh = async (prefix) => {
    const file = join(dir, `${prefix}.yaml`)
    writeFileSync(file, renderPlan(planFor(prefix)))
    return loadPlan(file)
  }

  const rows = []
  const run = async (way, prefix, connect) => {
    const loaded = await loadFresh(prefix)
    const t0 = performance.now()
    const bao = await connect(loaded)
    const login = performance.now() - t0
    const opts = {kc: lab.kubeConfig, loaded, bao, actor: 'bench@ci', concurrency: CONCURRENCY}
    const t1 = performance.now()
    const copy = await copySecrets(opts)
    const t2 = performance.now()
    const check = await checkMigration({...opts, loaded: await loadPlan(loaded.file)})
    const t3 = performance.now()
    if (copy.counts.copied !== SECRETS) throw new Error(`${way}: ${JSON.stringify(copy.counts)} ${JSON.stringify(copy.processed.find((p) => p.outcome === 'failed'))}`)
    if (check.secrets.some((s) => s.drift)) throw new Error(`${way}: drift after the copy`)
    rows.push({way, 'login ms': Math.round(login), 'copy ms': Math.round(t2 - t1), '--check ms': Math.round(t3 - t2), 'openbao requests': bao.stats.requests, copied: copy.counts.copied})
    await bao.close()
  }
  await run('direct', 'direct', async () => new OpenBaoClient({addr: lab.baoAddr, token: lab.baoToken, tokenSource: 'flag', timeoutMs: 30_000, attempts: 4}, {connections: 16}))
  await run('via broker', 'broker', async (loaded) => {
    await applyPlan(rootClient, loaded.plan, {clusterMigrate: true})
    return openBaoViaBroker(lab.kubeConfig, loaded.plan, {timeoutMs: 30_000, concurrency: CONCURRENCY})
  })
  // Where the time goes: the same login and run straight to the broker's listener (its CA
  // trusted), without the apiserver's service proxy: the tunnel's share vs the proxy's.
  await run('broker, no apiserver', 'tunnel', async (loaded) => {
    await applyPlan(rootClient, loaded.plan, {clusterMigrate: true})
    const tr = await kube.send('POST', '/api/v1/namespaces/cloudtaser-system/serviceaccounts/cloudtaser-migrator/token', {body: Buffer.from(JSON.stringify({spec: {audiences: ['cloudtaser'], expirationSeconds: 600}}))})
    const jwt = JSON.parse(tr.bytes.toString()).status.token
    const {ca} = await broker.identity
    const settings = {addr: broker.url(), ca, timeoutMs: 30_000, attempts: 4}
    return (await loginKubernetes(settings, {mount: 'k8s-beacon', role: 'cloudtaser-migrate', jwt}, (s) => new OpenBaoClient(s, {connections: 16}))).client
  })
  console.log(`lab: kube-apiserver + OpenBao (dev, in-memory); ${SECRETS} Secrets (2 fields each) in ${NAMESPACES} namespaces, concurrency ${CONCURRENCY}`)
  console.table(rows)
  const [d, b, n] = rows
  const x = (a, k) => (a[k] / d[k]).toFixed(2)
  console.log(`via broker / direct: copy x${x(b, 'copy ms')}, --check x${x(b, '--check ms')}; login (TokenRequest + jwt login through the tunnel) ${b['login ms']} ms`)
  console.log(`broker without the apiserver / direct: copy x${x(n, 'copy ms')}, --check x${x(n, '--check ms')}`)
  console.log(JSON.stringify({secrets: SECRETS, concurrency: CONCURRENCY, rows}))
} finally {
  for (const c of cleanup.reverse()) await Promise.resolve(c()).catch(() => {})
  await lab.stop()
}
