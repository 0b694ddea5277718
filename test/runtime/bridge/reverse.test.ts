// Reverse-connect, every server real: the lab's kube-apiserver and OpenBao, the Rust wrapper. No
// beacon at all: the bridge dials the broker's endpoint, which the registration names. A recorder
// in front of that endpoint keeps every byte both ways, hunted for the secret, the tokens and the
// private keys. Then what a stranger who finds the endpoint can do: garbage, other rooms, the
// wrong role, posing as the bridge in the init room (the broker sends nothing and waits for the
// registered bridge) and in the operational room (mTLS refuses it).
import t from 'tap'
import {generateKeyPairSync, randomBytes, randomUUID} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {readFileSync} from 'node:fs'
import https from 'node:https'
import net from 'node:net'
import tls from 'node:tls'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {CoreV1Api} from '@kubernetes/client-node'
import {initInfoHash} from '../../../lib/infohash.js'
import {startLab} from '../../../lib/lab/index.js'
import {kubeHttp} from '../../../lib/kube/http.js'
import {OpenBaoClient} from '../../../lib/openbao/client.js'
import {registerCluster} from '../../../lib/openbao/register.js'
import {generateClusterCa} from '../../../lib/openbao/cluster-ca.js'
import {issueLeaf} from '../../../lib/x509/issue.js'
import {HttpTransport} from '../../../lib/openbao/http-transport.js'
import {encodeHello, Status} from '../../../runtime/beacon/protocol.js'
import {startBridge} from '../../../runtime/bridge/bridge.js'
import {startBroker, type Broker} from '../../../runtime/broker/broker.js'
import {bao} from '../../lib/lab/helpers.js'
import {CHILD_SCRIPT, runWrapper, type Run} from '../wrapper/helpers.js'
import {beaconFixture, recorder, until} from './helpers.js'

const lab = await startLab({node: false})
t.teardown(() => lab.stop())
const root = (method: string, path: string, body?: unknown) => bao(lab.baoAddr, lab.baoToken, method, path, body)
const rootClient = new OpenBaoClient({addr: lab.baoAddr, token: lab.baoToken, tokenSource: 'flag', timeoutMs: 5000, attempts: 2})
t.teardown(() => rootClient.close())
const work = mkdtempSync(join(tmpdir(), 'cloudtaser-reverse-'))
t.teardown(() => rmSync(work, {recursive: true, force: true}))

const core = lab.kubeConfig.makeApiClient(CoreV1Api)
const fingerprint = (await core.readNamespace({name: 'kube-system'})).metadata!.uid!
const reg = await registerCluster(rootClient, {fingerprint, from: 'flag'})
const pin = reg.infoHashes.operational!
const kube = await kubeHttp(lab.kubeConfig)
const {bridgeToken, issuer, canary, saToken, tokenFile} = await beaconFixture({kube, core, root, mount: 'k8s-rev', work})
await core.createNamespace({body: {metadata: {name: 'cloudtaser-system'}}})
await core.createNamespacedServiceAccount({namespace: 'cloudtaser-system', body: {metadata: {name: 'cloudtaser-broker'}}})

// The broker, listening for the bridge (port 0 here; a LoadBalancer or NodePort in a cluster).
const brokerLog = recorder()
const brokers: Broker[] = []
t.teardown(() => Promise.all(brokers.map((b) => b.stop())))
const broker = await startBroker({fingerprint, reverse: {host: '127.0.0.1', port: 0}, kube, reviewTokens: true, caPin: pin, serviceAccount: {namespace: 'cloudtaser-system', name: 'cloudtaser-broker'}, host: '127.0.0.1', port: 0, opsHost: '127.0.0.1', opsPort: 0, dnsNames: ['cloudtaser-broker.cloudtaser-system.svc'], ipAddresses: ['127.0.0.1'], logger: brokerLog.logger, backoff: {baseMs: 50, maxMs: 500}, refusedDelayMs: 200})
brokers.push(broker)

// What the OpenBao side's network carries: a recorder in front of the broker's endpoint.
const relayed: Buffer[] = []
const front = (port: number) => {
  const s = net.createServer({allowHalfOpen: true}, (a) => {
    const b = net.connect({host: '127.0.0.1', port, allowHalfOpen: true})
    for (const [from, to] of [[a, b], [b, a]] as const) {
      from.on('data', (c: Buffer) => (relayed.push(Buffer.from(c)), to.write(c)))
      from.on('end', () => to.end())
      from.on('error', () => to.destroy())
      from.on('close', () => to.destroy())
    }
  })
  return new Promise<net.Server>((r) => s.listen(0, '127.0.0.1', () => r(s)))
}
const endpointServer = await front(broker.reversePort!)
t.teardown(() => endpointServer.close())
const endpoint = `127.0.0.1:${(endpointServer.address() as net.AddressInfo).port}`

// No beacon anywhere: the bridge finds the endpoint in the registration.
const bridgeLog = recorder()
const baoTransport = new HttpTransport()
const bridgeClient = new OpenBaoClient({addr: lab.baoAddr, token: bridgeToken, tokenSource: 'flag', timeoutMs: 5000, attempts: 2})
const bridge = await startBridge({client: bridgeClient, baoAddr: lab.baoAddr, transport: baoTransport, logger: bridgeLog.logger, refreshMs: 600_000, backoff: {baseMs: 50, maxMs: 500}})
t.teardown(async () => {
  await bridge.stop()
  await bridgeClient.close()
  await baoTransport.close()
})
const runs: Run[] = []
t.teardown(() => runs.forEach((r) => r.killAll()))
const caFile = join(work, 'ca.pem')
/** The Rust wrapper with the broker at `url` as its only OpenBao address. */
const startWrapper = (url: string) => {
  const r = runWrapper({
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    CLOUDTASER_ORIGINAL_CMD: JSON.stringify([process.execPath, '-e', CHILD_SCRIPT]),
    CLOUDTASER_VAULT_ADDR: url,
    CLOUDTASER_VAULT_CACERT: caFile,
    CLOUDTASER_VAULT_AUTH_PATH: 'auth/k8s-rev',
    CLOUDTASER_VAULT_ROLE: 'billing',
    CLOUDTASER_SA_TOKEN_FILE: tokenFile,
    CLOUDTASER_SECRET_PATHS: 'secret/data/billing/db',
    CLOUDTASER_ENV_MAP: 'password=PGPASSWORD',
    CLOUDTASER_START_DEADLINE: '8s',
  })
  runs.push(r)
  return r
}

t.test('a bridge without a beacon skips a cluster registered without an endpoint, and says why', async (t) => {
  t.same(bridge.clusters(), {})
  t.ok(bridgeLog.has('cluster_unreachable', {cluster: fingerprint}))
  t.equal(broker.state().tunnel, 'bootstrapping', 'the broker waits for the bridge to dial')
})

t.test('register --reverse-endpoint: the bridge dials the broker, which bootstraps; the wrapper gets its secret', async (t) => {
  const updated = await registerCluster(rootClient, {fingerprint, from: 'flag'}, {reverseEndpoint: endpoint})
  t.match(updated.actions.find((a) => a.resource === 'record' && a.name.endsWith('/registered')), {kind: 'update', changes: ['reverseEndpoint']}, 'only the endpoint changes')
  t.equal(updated.infoHashes.operational, pin, 'the CA is untouched')
  const again = await registerCluster(rootClient, {fingerprint, from: 'flag'}, {reverseEndpoint: endpoint})
  t.equal((again.summary.create ?? 0) + (again.summary.update ?? 0) + (again.summary.delete ?? 0), 0, 'a second run changes nothing')
  t.equal(again.reverseEndpoint, endpoint)
  await bridge.refresh()
  const id = await broker.identity
  t.equal(id.caSha256, pin, 'bootstrapped with the pinned CA')
  writeFileSync(caFile, id.ca)
  await until(() => broker.state().tunnel === 'up', 'the tunnel')
  t.same(bridge.clusters(), {[fingerprint]: 'operational'})
  t.ok(bridgeLog.has('cluster_rooms', {cluster: fingerprint, via: `reverse-connect ${endpoint}`}))

  const r = startWrapper(broker.url()!)
  t.equal((await r.waitFor('start')).env!.PGPASSWORD, canary)
  t.ok(bridgeLog.has('login_forwarded', {namespace: 'apps', serviceAccount: 'billing'}), 'the bridge checked the token before the login went on')
  r.killAll()
  // The broker's ops port: ready, its state, and what Prometheus scrapes.
  t.equal((await fetch(`${broker.opsUrl}/readyz`)).status, 200)
  t.match(await (await fetch(`${broker.opsUrl}/status`)).json(), {tunnel: 'up', serial: (await broker.identity).serial})
  const bm = (await (await fetch(`${broker.opsUrl}/metrics`)).text()).split('\n')
  t.ok(bm.includes('cloudtaser_broker_tunnel_up 1') && bm.includes('cloudtaser_broker_tunnels_total 1'), 'broker metrics: the tunnel is up')
  t.same(bridge.ready(), {ok: true})
  const m = bridge.metrics()
  for (const line of ['cloudtaser_bridge_clusters{state="operational"} 1', 'cloudtaser_bridge_tunnels_open 1', 'cloudtaser_bridge_bootstraps_total 1', 'cloudtaser_bridge_logins_total 1']) t.ok(m.split('\n').includes(line), `metrics: ${line}`)
})

t.test('the broker checks each login with a TokenReview: a deleted ServiceAccount\'s token, whose signature is still good, goes no further', async (t) => {
  await core.createNamespacedServiceAccount({namespace: 'apps', body: {metadata: {name: 'gone'}}})
  const token = (await core.createNamespacedServiceAccountToken({name: 'gone', namespace: 'apps', body: {spec: {expirationSeconds: 600, audiences: []}}})).status!.token!
  await core.deleteNamespacedServiceAccount({name: 'gone', namespace: 'apps'})
  // OpenBao's jwt method, like the bridge, checks only signature and claims: it still takes the token.
  await root('POST', 'auth/k8s-rev/role/gone', {role_type: 'jwt', user_claim: 'sub', bound_subject: 'system:serviceaccount:apps:gone', bound_audiences: [issuer], token_policies: ['default'], token_ttl: '1m'})
  const direct = await root('POST', 'auth/k8s-rev/login', {role: 'gone', jwt: token})
  t.equal(direct.status, 200, 'the control: OpenBao alone accepts the deleted ServiceAccount\'s token')
  const r = await new Promise<{status: number; body: string}>((resolve, reject) => {
    const req = https.request(`${broker.url()}/v1/auth/k8s-rev/login`, {method: 'POST', ca: readFileSync(caFile), headers: {'content-type': 'application/json'}}, (res) => {
      let body = ''
      res.on('data', (c: Buffer) => (body += c.toString()))
      res.on('end', () => resolve({status: res.statusCode!, body}))
    })
    req.on('error', reject)
    req.end(JSON.stringify({role: 'gone', jwt: token}))
  })
  t.equal(r.status, 403)
  t.match(r.body, /cloudtaser broker: the cluster does not accept this ServiceAccount token/)
  t.ok(brokerLog.has('login_refused'), 'the broker logged the refusal')
  t.notOk(bridgeLog.has('login_forwarded', {serviceAccount: 'gone'}), 'the login never reached the bridge')
  t.notOk(JSON.stringify(brokerLog.lines).includes(token), 'the token is not logged')
})

/** Connects to the broker's endpoint, sends `hello`, and returns the status bytes it got before the close (or after ms). */
const knock = (hello: Buffer, ms = 3_000) =>
  new Promise<number[]>((resolve) => {
    const got: number[] = []
    const s = net.connect({host: '127.0.0.1', port: broker.reversePort!}, () => s.write(hello))
    s.on('data', (c: Buffer) => got.push(...c.subarray(0, 8)))
    s.on('error', () => {})
    s.on('close', () => resolve(got))
    setTimeout(() => s.destroy(), ms)
  })

t.test('a stranger at the endpoint: garbage, another room, the broker role', async (t) => {
  t.same((await knock(Buffer.from('GET / HTTP/1.1\r\n\r\n')))[1], Status.BAD_MAGIC, 'garbage: BAD_MAGIC at once')
  t.same((await knock(encodeHello('bridge', randomBytes(32))))[1], Status.MATCH_TIMEOUT, 'a room that is not this cluster\'s: refused at once')
  t.same((await knock(encodeHello('broker', initInfoHash(fingerprint))))[1], Status.BAD_ROLE, 'only a bridge dials the broker')
  t.ok(brokerLog.has('reverse_refused', {reason: 'not a room of this cluster'}))
  t.equal(broker.state().tunnel, 'up', 'the tunnel is undisturbed')
})

/** Reads status frames until PAIRED, puts back what came behind it (the broker's ClientHello), then calls on. */
const afterPaired = (s: net.Socket, on: () => void) => {
  let buf = Buffer.alloc(0)
  const onData = (c: Buffer) => {
    buf = Buffer.concat([buf, c])
    while (buf.length >= 2 && buf[1] === Status.WAITING) buf = buf.subarray(2)
    if (buf.length < 2) return
    s.off('data', onData)
    s.pause()
    if (buf[1] !== Status.PAIRED) return s.destroy()
    if (buf.length > 2) s.unshift(buf.subarray(2))
    on()
  }
  s.on('data', onData)
}

t.test('a stranger posing as the bridge in the init room: the broker sends nothing, then bootstraps with the registered bridge', async (t) => {
  const fp2 = randomUUID()
  const reg2 = await registerCluster(rootClient, {fingerprint: fp2, from: 'flag'})
  const log = recorder()
  const b2 = await startBroker({fingerprint: fp2, reverse: {host: '127.0.0.1', port: 0}, kube, caPin: reg2.infoHashes.operational!, host: '127.0.0.1', port: 0, opsHost: '127.0.0.1', opsPort: 0, dnsNames: [], ipAddresses: ['127.0.0.1'], logger: log.logger, backoff: {baseMs: 50, maxMs: 500}, refusedDelayMs: 200})
  brokers.push(b2)
  // The impostor: a TLS server with a certificate of its own, recording whatever the broker says inside.
  const ca = generateClusterCa('impostor CA')
  const {publicKey, privateKey} = generateKeyPairSync('ec', {namedCurve: 'P-256'})
  const leaf = issueLeaf({ca: {certPem: ca.certPem, key: ca.privateKey}, spki: publicKey.export({type: 'spki', format: 'der'}), commonName: 'cloudtaser-bridge-x', usage: ['serverAuth'], days: 1})
  const heard: Buffer[] = []
  await new Promise<void>((resolve) => {
    const s = net.connect({host: '127.0.0.1', port: b2.reversePort!}, () => s.write(encodeHello('bridge', initInfoHash(fp2))))
    afterPaired(s, () => {
      const server = tls.createServer({key: privateKey.export({type: 'pkcs8', format: 'pem'}), cert: leaf.certPem + ca.certPem, minVersion: 'TLSv1.3'})
      server.once('secureConnection', (ts: tls.TLSSocket) => {
        ts.on('data', (c: Buffer) => heard.push(c))
        ts.on('error', () => {})
        ts.once('close', () => resolve())
      })
      s.on('error', () => {})
      s.once('close', () => resolve())
      server.emit('connection', s)
    })
  })
  t.equal(Buffer.concat(heard).length, 0, 'the impostor got the handshake and not one byte inside it (no CSR, no proof)')
  await until(() => log.has('bootstrap_peer_not_pinned'), 'the broker\'s log line')
  t.equal(b2.state().tunnel, 'bootstrapping', 'the broker keeps waiting for the registered bridge')
  // Now the registered bridge learns the endpoint and dials: the same broker bootstraps.
  await registerCluster(rootClient, {fingerprint: fp2, from: 'flag'}, {reverseEndpoint: `127.0.0.1:${b2.reversePort}`})
  await bridge.refresh()
  const id = await b2.identity
  t.equal(id.caSha256, reg2.infoHashes.operational)
  await until(() => b2.state().tunnel === 'up', 'the second cluster\'s tunnel')
  await registerCluster(rootClient, {fingerprint: fp2, from: 'flag'}, {reverseEndpoint: null})
  await bridge.refresh()
  t.notOk(fp2 in bridge.clusters(), 'with the endpoint removed (and no beacon) the bridge lets the cluster go')
  await until(() => b2.state().tunnel !== 'up', 'the tunnel to close')

  // The broker, with its certificate now, waits in the operational room: a stranger there has
  // everything but a certificate from the cluster CA, and mTLS refuses it.
  const session = await new Promise<string>((resolve) => {
    const s = net.connect({host: '127.0.0.1', port: b2.reversePort!}, () => s.write(encodeHello('bridge', Buffer.from(reg2.infoHashes.operational!, 'hex'))))
    afterPaired(s, () => {
      const server = tls.createServer({key: privateKey.export({type: 'pkcs8', format: 'pem'}), cert: leaf.certPem + ca.certPem, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.3'})
      server.once('secureConnection', (ts: tls.TLSSocket) => {
        ts.on('error', () => {})
        ts.once('data', () => resolve('the broker spoke inside'))
        ts.once('close', () => resolve('closed after the handshake'))
      })
      server.once('tlsClientError', (e) => resolve(`refused: ${e.message}`))
      s.on('error', () => {})
      s.once('close', () => resolve('closed'))
      server.emit('connection', s)
    })
  })
  t.not(session, 'the broker spoke inside', `no session with the stranger (${session})`)
  await until(() => log.has('beacon_error', {error: /mTLS with the bridge failed/}), 'the broker\'s log line')
  t.not(b2.state().tunnel, 'up')
})

t.test('renewal before expiry: the broker renews over its live tunnel and moves to the new certificate', async (t) => {
  // A restarted broker (the first one stops: one broker per cluster), renewing 3 s after each certificate instead of at day 60.
  const before = (await broker.identity).serial
  await broker.stop()
  const log = recorder()
  const b = await startBroker({fingerprint, reverse: {host: '127.0.0.1', port: 0}, kube, caPin: pin, serviceAccount: {namespace: 'cloudtaser-system', name: 'cloudtaser-broker'}, host: '127.0.0.1', port: 0, opsHost: '127.0.0.1', opsPort: 0, dnsNames: ['cloudtaser-broker.cloudtaser-system.svc'], ipAddresses: ['127.0.0.1'], logger: log.logger, backoff: {baseMs: 50, maxMs: 500}, refusedDelayMs: 200, renewAfterMs: 3_000})
  brokers.push(b)
  await registerCluster(rootClient, {fingerprint, from: 'flag'}, {reverseEndpoint: `127.0.0.1:${b.reversePort}`})
  await bridge.refresh()
  const first = (await b.identity).serial
  t.not(first, before, 'the restart renewed (a new key, the ServiceAccount proof)')
  await until(() => log.has('renewed'), 'the renewal over the live tunnel', 30_000).catch((e: Error) => {
    t.comment(JSON.stringify(log.lines.map((l) => [l.event, l.error ?? l.reason ?? l.at ?? ''])))
    t.comment(JSON.stringify(bridgeLog.lines.slice(-15).map((l) => [l.event, l.code ?? l.error ?? l.reason ?? ''])))
    throw e
  })
  const renewed = b.state().serial!
  t.not(renewed, first, 'a new certificate while running')
  await until(() => b.state().tunnel === 'up', 'the tunnel on the new certificate')
  const init = ((await root('GET', `cloudtaser/${fingerprint.slice(0, 8)}/cloudtaser/data/clusters/${fingerprint}/initialized`)).body as {data: {data: {serial: string}}}).data.data
  t.equal(init.serial, renewed, 'OpenBao names the new certificate (the old one is revoked)')
  t.notOk(log.has('tunnel_refused'), 'the new tunnel was admitted at once')
  const r = startWrapper(b.url()!)
  t.equal((await r.waitFor('start')).env!.PGPASSWORD, canary, 'a wrapper after the renewal gets its secret (the listener serves the new certificate)')
  r.killAll()
  await b.stop()
})

t.test('leak hunt: nothing the OpenBao side\'s network carried holds the secret, a token or a private key', async (t) => {
  const all = Buffer.concat(relayed)
  t.ok(all.length > 2_000, `the recorder saw the tunnel (${all.length} bytes)`)
  for (const [what, needle] of [['the secret', canary], ['the ServiceAccount token', saToken.slice(-40)], ['a PEM private key', 'PRIVATE KEY'], ['the OpenBao path', 'billing/db']] as const)
    t.equal(all.indexOf(Buffer.from(needle)), -1, `no ${what}`)
  const logs = JSON.stringify([...brokerLog.lines, ...bridgeLog.lines])
  t.notOk(logs.includes(canary) || logs.includes(saToken), 'no secret or token in either log')
})
