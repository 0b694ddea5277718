// Beacon mode end to end, every server real: the beacon as its own process (`cloudtaser beacon
// serve`), the lab's kube-apiserver (TokenRequest tokens, its JWKS) and OpenBao, and the Rust
// wrapper. The wrapper's only OpenBao address is the broker; broker and bridge meet only through
// the beacon. Every byte the beacon relayed is recorded (a TCP recorder in front of it) and hunted
// for the secret, the ServiceAccount token and every private key. Then each refusal of the
// bootstrap and the tunnel, with the log line on both sides.
import t from 'tap'
import {spawn} from 'node:child_process'
import {generateKeyPairSync, randomUUID} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {CoreV1Api} from '@kubernetes/client-node'
import {startLab} from '../../../lib/lab/index.js'
import {kubeHttp} from '../../../lib/kube/http.js'
import {OpenBaoClient} from '../../../lib/openbao/client.js'
import {registerCluster} from '../../../lib/openbao/register.js'
import {deregisterCluster} from '../../../lib/openbao/deregister.js'
import {generateClusterCa} from '../../../lib/openbao/cluster-ca.js'
import {issueLeaf} from '../../../lib/x509/issue.js'
import {HttpTransport} from '../../../lib/openbao/http-transport.js'
import {runBeaconClient} from '../../../runtime/beacon/client.js'
import type {Logger} from '../../../runtime/beacon/log.js'
import {startBridge} from '../../../runtime/bridge/bridge.js'
import {bootstrapBroker} from '../../../runtime/broker/bootstrap.js'
import {startBroker, type Broker, type BrokerOptions} from '../../../runtime/broker/broker.js'
import {brokerAudience} from '../../../runtime/tunnel/wire.js'
import {bao} from '../../lib/lab/helpers.js'
import {CHILD_SCRIPT, runWrapper, type Run} from '../wrapper/helpers.js'
import {beaconFixture, recorder, until} from './helpers.js'

const lab = await startLab({node: false})
t.teardown(() => lab.stop())
const root = (method: string, path: string, body?: unknown) => bao(lab.baoAddr, lab.baoToken, method, path, body)
const rootClient = new OpenBaoClient({addr: lab.baoAddr, token: lab.baoToken, tokenSource: 'flag', timeoutMs: 5000, attempts: 2})
t.teardown(() => rootClient.close())
const work = mkdtempSync(join(tmpdir(), 'cloudtaser-beacon-mode-'))
t.teardown(() => rmSync(work, {recursive: true, force: true}))

// The beacon, its own process, plain TCP; a recorder in front keeps every byte both ways.
const beaconLogs: string[] = []
const spawnBeacon = (port: number) => spawn(process.execPath, ['bin/run.js', 'beacon', 'serve', '--plain', '--host', '127.0.0.1', '--port', String(port), '--ops-host', '127.0.0.1', '--ops-port', '0', '--match-timeout', '3000'], {stdio: ['ignore', 'ignore', 'pipe']})
const beaconProc = spawnBeacon(0)
// A beacon restarted by a subtest serves the rest of the file: killed with the file, not the subtest.
const restartedBeacons: ReturnType<typeof spawnBeacon>[] = []
t.teardown(() => restartedBeacons.forEach((p) => p.kill('SIGKILL')))
t.teardown(() => void beaconProc.kill('SIGKILL'))
beaconProc.stderr!.on('data', (c: Buffer) => beaconLogs.push(c.toString()))
await until(() => /"event":"listening"/.test(beaconLogs.join('')), 'the beacon to listen', 30_000)
const beaconPort = Number(/"event":"listening"[^\n]*"port":(\d+)/.exec(beaconLogs.join(''))![1])
const relayed: Buffer[] = []
const tap = net.createServer({allowHalfOpen: true}, (a) => {
  const b = net.connect({host: '127.0.0.1', port: beaconPort, allowHalfOpen: true})
  for (const [from, to] of [[a, b], [b, a]] as const) {
    from.on('data', (c: Buffer) => (relayed.push(Buffer.from(c)), to.write(c)))
    from.on('end', () => to.end())
    from.on('error', () => to.destroy())
    from.on('close', () => to.destroy())
  }
})
await new Promise<void>((r) => tap.listen(0, '127.0.0.1', r))
t.teardown(() => tap.close())
const beacon = {address: `127.0.0.1:${(tap.address() as net.AddressInfo).port}`, tls: false as const}

// The cluster's registration, and the bridge's own token: the fleet policy only.
const core = lab.kubeConfig.makeApiClient(CoreV1Api)
const fingerprint = (await core.readNamespace({name: 'kube-system'})).metadata!.uid!
const reg = await registerCluster(rootClient, {fingerprint, from: 'flag'})
const kube = await kubeHttp(lab.kubeConfig)
const {bridgeToken, issuer, canary, saToken, tokenFile} = await beaconFixture({kube, core, root, mount: 'k8s-beacon', work})

const bridgeLog = recorder()
const baoTransport = new HttpTransport()
const bridgeClient = new OpenBaoClient({addr: lab.baoAddr, token: bridgeToken, tokenSource: 'flag', timeoutMs: 5000, attempts: 2})
const bridge = await startBridge({client: bridgeClient, baoAddr: lab.baoAddr, transport: baoTransport, beacon, logger: bridgeLog.logger, refreshMs: 600_000, backoff: {baseMs: 50, maxMs: 500}})
t.teardown(async () => {
  await bridge.stop()
  await bridgeClient.close()
  await baoTransport.close()
})

// The broker's own ServiceAccount: a restarted broker renews its certificate with a token of it.
await core.createNamespace({body: {metadata: {name: 'cloudtaser-system'}}})
await core.createNamespacedServiceAccount({namespace: 'cloudtaser-system', body: {metadata: {name: 'cloudtaser-broker'}}})
const brokerLog = recorder()
const brokers: Broker[] = []
t.teardown(() => Promise.all(brokers.map((b) => b.stop())))
const brokerOptions = (logger: Logger): BrokerOptions => ({fingerprint, beacon, kube, caPin: reg.infoHashes.operational!, serviceAccount: {namespace: 'cloudtaser-system', name: 'cloudtaser-broker'}, host: '127.0.0.1', port: 0, opsHost: '127.0.0.1', opsPort: 0, dnsNames: ['cloudtaser-broker.cloudtaser-system.svc'], ipAddresses: ['127.0.0.1'], logger, backoff: {baseMs: 50, maxMs: 500}, refusedDelayMs: 200})
let broker = await startBroker(brokerOptions(brokerLog.logger))
brokers.push(broker)
const saTokenFor = async (namespace: string, name: string, audiences: string[]) => (await core.createNamespacedServiceAccountToken({name, namespace, body: {spec: {expirationSeconds: 600, audiences}}})).status!.token!
const runs: Run[] = []
t.teardown(() => runs.forEach((r) => r.killAll()))
const caFile = join(work, 'ca.pem')

const startWrapper = () => {
  const r = runWrapper({
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    CLOUDTASER_ORIGINAL_CMD: JSON.stringify([process.execPath, '-e', CHILD_SCRIPT]),
    CLOUDTASER_VAULT_ADDR: broker.url()!,
    CLOUDTASER_VAULT_CACERT: caFile,
    CLOUDTASER_VAULT_AUTH_PATH: 'auth/k8s-beacon',
    CLOUDTASER_VAULT_ROLE: 'billing',
    CLOUDTASER_SA_TOKEN_FILE: tokenFile,
    CLOUDTASER_SECRET_PATHS: 'secret/data/billing/db',
    CLOUDTASER_ENV_MAP: 'password=PGPASSWORD',
    CLOUDTASER_START_DEADLINE: '8s',
  })
  runs.push(r)
  return r
}

t.test('bootstrap, then the wrapper fetches its secret through broker, beacon and bridge', async (t) => {
  const id = await broker.identity
  t.equal(id.caSha256, reg.infoHashes.operational, 'the CA the bridge handed out is the registered one (pinned)')
  writeFileSync(caFile, id.ca)
  await until(() => broker.state().tunnel === 'up', 'the tunnel')
  t.same(bridge.clusters(), {[fingerprint]: 'operational'})
  const init = ((await root('GET', `cloudtaser/${fingerprint.slice(0, 8)}/cloudtaser/data/clusters/${fingerprint}/initialized`)).body as {data: {data: {serial: string}}}).data.data
  t.equal(init.serial, id.serial, 'the initialized record names the one certificate issued')
  t.ok(bridgeLog.has('bootstrap_issued', {cluster: fingerprint}) && bridgeLog.has('tunnel_up', {cluster: fingerprint}))

  const r = startWrapper()
  t.equal((await r.waitFor('start')).env!.PGPASSWORD, canary)
  t.ok(bridgeLog.has('login_forwarded', {namespace: 'apps', serviceAccount: 'billing'}), 'the bridge checked the ServiceAccount token before the login went on')
  r.killAll()
})

t.test('the bridge refuses a login whose token the cluster did not sign, and requests without a token', async (t) => {
  const forged = `${Buffer.from('{"alg":"RS256","kid":"x"}').toString('base64url')}.${Buffer.from(JSON.stringify({iss: issuer, sub: 'system:serviceaccount:apps:billing'})).toString('base64url')}.AAAA`
  const ask = (path: string, body?: string) => fetchVia(broker.url()!, path, body)
  const login = await ask('/v1/auth/k8s-beacon/login', JSON.stringify({role: 'billing', jwt: forged}))
  t.equal(login.status, 403)
  t.match(login.body, /ServiceAccount token refused: unknown key id x/)
  const anon = await ask('/v1/secret/data/billing/db')
  t.equal(anon.status, 403)
  t.match(anon.body, /unauthenticated request/)
  t.ok(bridgeLog.has('request_refused', {reason: /unknown key id/}))
})

t.test('a replayed bootstrap after initialization is refused on both sides', async (t) => {
  const log = recorder()
  await t.rejects(bootstrapBroker({beacon, fingerprint, dnsNames: [], ipAddresses: [], logger: log.logger}), {code: 'BROKER_BOOTSTRAP_REFUSED', message: /BRIDGE_ALREADY_INITIALIZED/})
  t.ok(bridgeLog.has('bootstrap_refused', {cluster: fingerprint, code: 'BRIDGE_ALREADY_INITIALIZED'}))
})

t.test('a restarted broker renews with a token of its ServiceAccount; the old certificate is revoked; other proofs are refused', async (t) => {
  await until(() => bridgeLog.has('jwks_recorded', {cluster: fingerprint, brokerSubject: 'system:serviceaccount:cloudtaser-system:cloudtaser-broker'}), 'the bridge to record the keys and the broker\'s subject')
  const pin = reg.infoHashes.operational!
  const attempt = (proof: () => Promise<string>, caPin = pin) => bootstrapBroker({beacon, fingerprint, caPin, dnsNames: [], ipAddresses: [], logger: recorder().logger, proof})
  await t.rejects(attempt(() => saTokenFor('apps', 'billing', [brokerAudience(fingerprint)])), {code: 'BROKER_BOOTSTRAP_REFUSED', message: /BRIDGE_PROOF_REFUSED.*apps:billing, not the broker's ServiceAccount/}, 'another ServiceAccount of the cluster')
  await t.rejects(attempt(() => saTokenFor('cloudtaser-system', 'cloudtaser-broker', [])), {code: 'BROKER_BOOTSTRAP_REFUSED', message: /BRIDGE_PROOF_REFUSED.*audience is not cloudtaser-bridge:/}, 'the broker\'s token for another audience (what a login would carry)')
  await t.rejects(attempt(() => saTokenFor('cloudtaser-system', 'cloudtaser-broker', [brokerAudience(randomUUID())])), {message: /BRIDGE_PROOF_REFUSED.*audience/}, 'a proof bound to another cluster')
  const forged = `${Buffer.from('{"alg":"RS256","kid":"x"}').toString('base64url')}.${Buffer.from(JSON.stringify({iss: issuer, sub: 'system:serviceaccount:cloudtaser-system:cloudtaser-broker', aud: [brokerAudience(fingerprint)]})).toString('base64url')}.AAAA`
  await t.rejects(attempt(async () => forged), {message: /BRIDGE_PROOF_REFUSED.*unknown key id/}, 'a token the cluster did not sign')
  let asked = false
  await t.rejects(attempt(async () => ((asked = true), 'never sent'), 'cd'.repeat(32)), {code: 'BROKER_CA_PIN_MISMATCH', message: /proof was not sent/}, 'a bridge that does not match the pin never sees the token')
  t.notOk(asked, 'the token was not even requested')
  t.equal(bridgeLog.lines.filter((l) => l.event === 'bootstrap_refused' && l.code === 'BRIDGE_PROOF_REFUSED').length, 4, 'the bridge logged each refusal')

  // The restart: a second broker with the same options while the first still runs (a rolling update would do this).
  const before = await broker.identity
  const renewedLog = recorder()
  // Its lines go to brokerLog too: the rest of the file checks the broker that is running.
  const renewed = await startBroker(brokerOptions((level, event, fields) => (renewedLog.logger(level, event, fields), brokerLog.logger(level, event, fields))))
  brokers.push(renewed)
  const id = await renewed.identity
  t.not(id.serial, before.serial, 'a new certificate, for a new key')
  t.equal(id.caSha256, before.caSha256)
  t.ok(bridgeLog.has('bootstrap_issued', {cluster: fingerprint, serial: id.serial, renewal: true}))
  const init = ((await root('GET', `cloudtaser/${fingerprint.slice(0, 8)}/cloudtaser/data/clusters/${fingerprint}/initialized`)).body as {data: {data: {serial: string; renewedAt?: string}}}).data.data
  t.equal(init.serial, id.serial, 'the initialized record now names the renewed certificate')
  t.ok(init.renewedAt)
  await until(() => renewed.state().tunnel === 'up', 'the renewed broker\'s tunnel')
  await until(() => brokerLog.has('tunnel_refused', {code: 'BRIDGE_REVOKED'}), 'the old broker to be refused', 30_000)
  t.notOk(renewedLog.has('tunnel_refused'), 'the old certificate is the one refused with BRIDGE_REVOKED')
  const old = broker
  broker = renewed
  await old.stop()
  const r = startWrapper()
  t.equal((await r.waitFor('start')).env!.PGPASSWORD, canary, 'a wrapper gets its secret through the renewed broker')
  r.killAll()
})

t.test('a broker with a certificate from another CA cannot open the tunnel', async (t) => {
  const other = generateClusterCa('not the cluster CA')
  const {publicKey, privateKey} = generateKeyPairSync('ec', {namedCurve: 'P-256'})
  const leaf = issueLeaf({ca: {certPem: other.certPem, key: other.privateKey}, spki: publicKey.export({type: 'spki', format: 'der'}), commonName: 'intruder', usage: ['clientAuth'], days: 1})
  const errors: string[] = []
  const before = bridgeLog.lines.length
  const c = runBeaconClient({...beacon, role: 'broker', infoHash: Buffer.from(reg.infoHashes.operational!, 'hex'), inner: {key: privateKey.export({type: 'pkcs8', format: 'pem'}), cert: leaf.certPem, ca: other.certPem}, onSession: () => {}, onError: (e) => void errors.push(e.message), backoff: {baseMs: 2000}})
  // The real broker holds the bridge's waiting connection only while its own tunnel is up; the
  // bridge keeps one more waiting (parallel mode), which the intruder meets.
  await until(() => errors.length > 0, 'the intruder\'s failure')
  await c.stop()
  t.match(errors[0], /end-to-end mTLS with the bridge failed/)
  await until(() => bridgeLog.lines.slice(before).some((l) => l.event === 'beacon_error' && /mTLS with the broker failed/.test(String(l.error))), 'the bridge\'s log line')
  t.equal(broker.state().tunnel, 'up', 'the real tunnel is untouched')
})

t.test('a CA pin that does not match: the broker refuses the bridge', async (t) => {
  const fp2 = randomUUID()
  await registerCluster(rootClient, {fingerprint: fp2, from: 'flag'})
  await bridge.refresh()
  const log = recorder()
  await t.rejects(bootstrapBroker({beacon, fingerprint: fp2, caPin: 'ab'.repeat(32), dnsNames: [], ipAddresses: [], logger: log.logger}), {code: 'BROKER_CA_PIN_MISMATCH'})
})

t.test('a cluster deregistered before its bootstrap is refused on both sides', async (t) => {
  const fp3 = randomUUID()
  await registerCluster(rootClient, {fingerprint: fp3, from: 'flag'})
  await bridge.refresh()
  t.equal(bridge.clusters()[fp3], 'init')
  await deregisterCluster(rootClient, {fingerprint: fp3, from: 'flag'})
  const log = recorder()
  const err = await bootstrapBroker({beacon, fingerprint: fp3, dnsNames: [], ipAddresses: [], logger: log.logger}).then(() => undefined, (e: Error) => e)
  t.match(err, {code: 'BROKER_BOOTSTRAP_REFUSED', message: /BRIDGE_NOT_REGISTERED/}, 'refused, saying why')
  t.ok(bridgeLog.has('bootstrap_refused', {cluster: fp3, code: 'BRIDGE_NOT_REGISTERED'}))
})

t.test('an unregistered fingerprint: nobody answers in its init room; the broker says why it waits', async (t) => {
  const log = recorder()
  const ac = new AbortController()
  const p = bootstrapBroker({beacon, fingerprint: randomUUID(), dnsNames: [], ipAddresses: [], logger: log.logger, signal: ac.signal})
  await until(() => log.has('bootstrap_waiting', {hint: /must be registered/}), 'the waiting line')
  ac.abort()
  await t.rejects(p)
})

t.test('the beacon killed mid-run: a wrapper started during the outage waits; broker and bridge reconnect; it gets its secret', async (t) => {
  t.equal(broker.state().tunnel, 'up')
  beaconProc.kill('SIGKILL')
  await until(() => broker.state().tunnel !== 'up', 'the broker to see its tunnel go down')
  const r = startWrapper() // start deadline 8 s
  await new Promise((res) => setTimeout(res, 1500))
  t.notOk(r.lines.some((l) => l.why === 'start'), 'the app does not start while OpenBao is out of reach')
  const restarted = spawnBeacon(beaconPort) // the same address, as a restarted Pod behind its Service
  restartedBeacons.push(restarted)
  restarted.stderr!.on('data', (c: Buffer) => beaconLogs.push(c.toString()))
  t.equal((await r.waitFor('start', 1, 15_000)).env!.PGPASSWORD, canary, 'the wrapper started during the outage got its secret once the beacon was back')
  t.equal(broker.state().tunnel, 'up', 'the broker reconnected')
  t.equal(bridge.clusters()[fingerprint], 'operational', 'the bridge reconnected in the operational room')
  r.killAll()
})

t.test('leak hunt: the beacon relayed only ciphertext, and logged no payload', async (t) => {
  const all = Buffer.concat(relayed)
  t.ok(all.length > 10_000, `the recorder saw the traffic (${all.length} bytes)`)
  const id = await broker.identity
  const caKey = ((await root('GET', `cloudtaser/${fingerprint.slice(0, 8)}/cloudtaser/data/system/${fingerprint}/ca/${reg.infoHashes.operational}`)).body as {data: {data: {private_key: string}}}).data.data.private_key
  const needles: [string, Buffer][] = [
    ['the secret value', Buffer.from(canary)],
    ['the ServiceAccount token', Buffer.from(saToken.split('.')[2]!)],
    ['the token\'s claims', Buffer.from(saToken.split('.')[1]!)],
    ['the CA private key', Buffer.from(caKey.split('\n')[1]!)],
    ['the broker private key', Buffer.from(id.key.toString().split('\n')[1]!)],
    ['the OpenBao path', Buffer.from('secret/data/billing/db')],
  ]
  const logs = beaconLogs.join('')
  for (const [what, n] of needles) {
    t.equal(all.indexOf(n), -1, `${what} is not in the relayed bytes`)
    t.notOk(logs.includes(n.toString()), `${what} is not in the beacon's log`)
  }
  for (const l of [...bridgeLog.lines, ...brokerLog.lines]) t.notOk(JSON.stringify(l).includes(canary), 'no secret in bridge or broker logs')
})

t.test('two beacon replicas behind one name: the bridge waits on both, so a broker reaching either pairs, and moves when its replica dies', async (t) => {
  const replica = async (host: string, port: number) => {
    const p = spawn(process.execPath, ['bin/run.js', 'beacon', 'serve', '--plain', '--host', host, '--port', String(port), '--ops-host', '127.0.0.1', '--ops-port', '0', '--match-timeout', '3000'], {stdio: ['ignore', 'ignore', 'pipe']})
    restartedBeacons.push(p)
    let out = ''
    p.stderr!.on('data', (c: Buffer) => (out += c.toString()))
    await until(() => /"event":"listening"/.test(out), `the replica on ${host}`, 30_000)
    return {p, port: Number(/"event":"listening"[^\n]*"port":(\d+)/.exec(out)![1])}
  }
  const a = await replica('127.0.0.1', 0)
  const b = await replica('127.0.0.2', a.port) // another loopback address, the same port: two A records
  const name = {address: `beacons.test:${a.port}`, tls: false as const}
  const fp = randomUUID()
  const r = await registerCluster(rootClient, {fingerprint: fp, from: 'flag'})
  const log = recorder()
  const bridge2 = await startBridge({client: bridgeClient, baoAddr: lab.baoAddr, transport: baoTransport, beacon: {...name, lookup: async () => ['127.0.0.1', '127.0.0.2']}, logger: log.logger, refreshMs: 600_000, backoff: {baseMs: 50, maxMs: 500}})
  t.teardown(() => bridge2.stop())
  // The broker's resolver answers replica B only (DNS order, or A unreachable from its network).
  let seen = ['127.0.0.2']
  const b2 = await startBroker({...brokerOptions(recorder().logger), fingerprint: fp, caPin: r.infoHashes.operational!, beacon: {...name, lookup: async () => seen}})
  brokers.push(b2)
  await until(() => b2.state().tunnel === 'up', 'the tunnel through replica B')
  t.pass('a broker that reaches only replica B bootstraps and pairs: the bridge waits there too')
  seen = ['127.0.0.2', '127.0.0.1']
  const tunnels = b2.stats.tunnels
  b.p.kill('SIGKILL')
  // Down and up again may fall between two looks at the state: count tunnels instead.
  await until(() => b2.stats.tunnels > tunnels && b2.state().tunnel === 'up', 'a new tunnel through replica A', 30_000)
  t.pass('replica B killed: the broker redials, reaches replica A, and the bridge is there')
  await b2.stop()
  await deregisterCluster(rootClient, {fingerprint: fp, from: 'flag'})
})

t.test('deregistering the cluster closes its tunnel, with the reason logged on both sides; wrappers get a clear 503', async (t) => {
  await deregisterCluster(rootClient, {fingerprint, from: 'flag'})
  await bridge.refresh()
  t.ok(bridgeLog.has('cluster_deregistered', {cluster: fingerprint}))
  await until(() => brokerLog.has('tunnel_goaway', {reason: /BRIDGE_NOT_REGISTERED/}), 'the broker\'s log line')
  await until(() => broker.state().tunnel !== 'up', 'the tunnel to drop')
  const r = await fetchVia(broker.url()!, '/v1/sys/health')
  t.equal(r.status, 503)
  t.match(r.body, /BROKER_TUNNEL_DOWN/)
})

async function fetchVia(url: string, path: string, body?: string): Promise<{status: number; body: string}> {
  const https = await import('node:https')
  const {readFileSync} = await import('node:fs')
  return new Promise((resolve, reject) => {
    const req = https.request(`${url}${path}`, {method: body ? 'POST' : 'GET', ca: readFileSync(caFile), headers: body ? {'content-type': 'application/json'} : {}}, (res) => {
      let s = ''
      res.on('data', (c: Buffer) => (s += c.toString()))
      res.on('end', () => resolve({status: res.statusCode!, body: s}))
    })
    req.on('error', reject)
    req.end(body)
  })
}
