#!/usr/bin/env node
// Secret fetch latency in beacon mode against direct, in one run on loopback: what a wrapper does
// at start (kubernetes-style JWT login, then one KV read), N times each way, sequentially:
//   direct:  client -> OpenBao
//   beacon:  client -> broker (TLS, cluster CA) -> beacon (own process) -> bridge -> OpenBao
//   reverse: client -> broker -> bridge (which dialled the broker's endpoint) -> OpenBao
// As in production, the broker reviews each login with a TokenReview and the bridge checks its
// token against the cluster's JWKS before OpenBao sees it. Then throughput: one 4 MiB KV value read both ways (the tunnel's
// HTTP/2 stream vs a direct response), median of ROUNDS. Needs `npm run build` (imports dist/).
// Env: N (default 300), ROUNDS (5).
import {spawn} from 'node:child_process'
import crypto, {createPublicKey, randomBytes} from 'node:crypto'
import {request as httpRequest} from 'node:http'
import {request as httpsRequest} from 'node:https'

const N = Number(process.env.N ?? 300)
const ROUNDS = Number(process.env.ROUNDS ?? 5)
const dist = new URL('../dist/', import.meta.url)
const imp = (p) => import(new URL(p, dist).href)
const {startLab} = await imp('lib/lab/index.js')
const {kubeHttp} = await imp('lib/kube/http.js')
const {OpenBaoClient} = await imp('lib/openbao/client.js')
const {registerCluster} = await imp('lib/openbao/register.js')
const {HttpTransport} = await imp('lib/openbao/http-transport.js')
const {startBridge} = await imp('runtime/bridge/bridge.js')
const {bridgeFleetPolicy} = await imp('lib/openbao/bridge-policy.js')
const {startBroker} = await imp('runtime/broker/broker.js')

const quiet = () => {}
const lab = await startLab({node: false})
const cleanup = []
process.on('exit', () => lab.stop())
try {
  const call = (base, method, path, {token, body, ca} = {}) =>
    new Promise((resolve, reject) => {
      const url = new URL(path, base)
      const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, {method, ca, headers: {...(token ? {'x-vault-token': token} : {}), ...(body ? {'content-type': 'application/json'} : {})}}, (res) => {
        const chunks = []
        res.on('data', (c) => chunks.push(c))
        res.on('end', () => (res.statusCode >= 400 ? reject(new Error(`${method} ${path}: ${res.statusCode} ${Buffer.concat(chunks).toString().slice(0, 200)}`)) : resolve(Buffer.concat(chunks))))
      })
      req.on('error', reject)
      req.end(body)
    })
  const root = (method, path, body) => call(lab.baoAddr, method, `/v1/${path}`, {token: lab.baoToken, body: body && JSON.stringify(body)})

  // The beacon as its own process, as in production.
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

  const kube = await kubeHttp(lab.kubeConfig)
  const fingerprint = (await kube.get('/api/v1/namespaces/kube-system')).metadata.uid
  const rootClient = new OpenBaoClient({addr: lab.baoAddr, token: lab.baoToken, tokenSource: 'flag', timeoutMs: 5000, attempts: 2})
  cleanup.push(() => rootClient.close())
  const reg = await registerCluster(rootClient, {fingerprint, from: 'flag'})
  await root('PUT', 'sys/policies/acl/cloudtaser-bridge', {policy: bridgeFleetPolicy()})
  const bridgeToken = JSON.parse(await root('POST', 'auth/token/create', {policies: ['cloudtaser-bridge'], no_default_policy: true, ttl: '1h'})).auth.client_token
  const issuer = (await kube.get('/.well-known/openid-configuration')).issuer
  const jwks = await kube.get('/openid/v1/jwks', 'application/jwk-set+json')
  const pems = jwks.keys.map((k) => createPublicKey({key: k, format: 'jwk'}).export({type: 'spki', format: 'pem'}))
  await root('POST', 'sys/auth/k8s-beacon', {type: 'jwt'})
  await root('POST', 'auth/k8s-beacon/config', {jwt_validation_pubkeys: pems, bound_issuer: issuer})
  await root('PUT', 'sys/policies/acl/billing-read', {policy: 'path "secret/data/billing/*" { capabilities = ["read"] }'})
  await root('POST', 'auth/k8s-beacon/role/billing', {role_type: 'jwt', user_claim: 'sub', bound_subject: 'system:serviceaccount:apps:billing', bound_audiences: [issuer], token_policies: ['billing-read'], token_ttl: '10m'})
  await root('POST', 'secret/data/billing/db', {data: {password: randomBytes(16).toString('hex')}})
  await root('POST', 'secret/data/billing/big', {data: {blob: randomBytes(3 << 20).toString('base64')}})
  await kube.send('POST', '/api/v1/namespaces', {body: Buffer.from(JSON.stringify({metadata: {name: 'apps'}}))})
  await kube.send('POST', '/api/v1/namespaces/apps/serviceaccounts', {body: Buffer.from(JSON.stringify({metadata: {name: 'billing'}}))})
  const tr = await kube.send('POST', '/api/v1/namespaces/apps/serviceaccounts/billing/token', {body: Buffer.from(JSON.stringify({spec: {expirationSeconds: 3600, audiences: []}}))})
  const jwt = JSON.parse(tr.bytes.toString()).status.token

  const baoTransport = new HttpTransport()
  const bridgeClient = new OpenBaoClient({addr: lab.baoAddr, token: bridgeToken, tokenSource: 'flag', timeoutMs: 5000, attempts: 2})
  const bridge = await startBridge({client: bridgeClient, baoAddr: lab.baoAddr, transport: baoTransport, beacon, logger: quiet, refreshMs: 600_000})
  cleanup.push(() => bridge.stop(), () => bridgeClient.close(), () => baoTransport.close())
  const broker = await startBroker({fingerprint, beacon, kube, reviewTokens: true, caPin: reg.infoHashes.operational, host: '127.0.0.1', port: 0, opsHost: '127.0.0.1', opsPort: 0, dnsNames: [], ipAddresses: ['127.0.0.1'], logger: quiet})
  cleanup.push(() => broker.stop())
  // Reverse-connect: a second registration (the bridge serves both) whose broker the bridge dials.
  const fp2 = crypto.randomUUID()
  const reg2 = await registerCluster(rootClient, {fingerprint: fp2, from: 'flag'})
  const reverseBroker = await startBroker({fingerprint: fp2, reverse: {host: '127.0.0.1', port: 0}, kube, reviewTokens: true, caPin: reg2.infoHashes.operational, host: '127.0.0.1', port: 0, opsHost: '127.0.0.1', opsPort: 0, dnsNames: [], ipAddresses: ['127.0.0.1'], logger: quiet})
  cleanup.push(() => reverseBroker.stop())
  await registerCluster(rootClient, {fingerprint: fp2, from: 'flag'}, {reverseEndpoint: `127.0.0.1:${reverseBroker.reversePort}`})
  await bridge.refresh()
  for (const b of [broker, reverseBroker]) {
    await b.identity
    for (const end = Date.now() + 30_000; b.state().tunnel !== 'up'; await new Promise((r) => setTimeout(r, 50))) if (Date.now() > end) throw new Error('a tunnel did not come up')
  }

  const ways = {direct: {base: lab.baoAddr}, beacon: {base: broker.url(), ca: (await broker.identity).ca}, reverse: {base: reverseBroker.url(), ca: (await reverseBroker.identity).ca}}
  const fetchSecret = async (w) => {
    const login = JSON.parse(await call(w.base, 'POST', '/v1/auth/k8s-beacon/login', {ca: w.ca, body: JSON.stringify({role: 'billing', jwt})}))
    await call(w.base, 'GET', '/v1/secret/data/billing/db', {ca: w.ca, token: login.auth.client_token})
    return login.auth.client_token
  }
  const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]
  const latency = {}
  for (const [name, w] of Object.entries(ways)) {
    for (let i = 0; i < 20; i++) await fetchSecret(w) // warm-up: connections, JIT
    const xs = []
    for (let i = 0; i < N; i++) {
      const t0 = process.hrtime.bigint()
      await fetchSecret(w)
      xs.push(Number(process.hrtime.bigint() - t0) / 1e6)
    }
    xs.sort((a, b) => a - b)
    latency[name] = {p50: pct(xs, 50), p99: pct(xs, 99)}
  }
  const throughput = Object.fromEntries(Object.keys(ways).map((k) => [k, []]))
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, w] of Object.entries(ways)) {
      const token = await fetchSecret(w)
      const t0 = process.hrtime.bigint()
      const body = await call(w.base, 'GET', '/v1/secret/data/billing/big', {ca: w.ca, token})
      throughput[name].push(body.length / (1 << 20) / (Number(process.hrtime.bigint() - t0) / 1e9))
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const mbps = Object.fromEntries(Object.entries(throughput).map(([k, xs]) => [k, median(xs)]))
  const f = (x) => x.toFixed(1)
  console.log(`secret fetch (JWT login + KV read), N=${N} each, sequential, one run on loopback:`)
  for (const name of Object.keys(ways)) console.log(`  ${name.padEnd(7)} p50 ${f(latency[name].p50)} ms  p99 ${f(latency[name].p99)} ms`)
  for (const name of ['beacon', 'reverse']) console.log(`  ${name}/direct: p50 x${(latency[name].p50 / latency.direct.p50).toFixed(2)}, p99 x${(latency[name].p99 / latency.direct.p99).toFixed(2)}`)
  console.log(`one ~4 MiB KV response, median of ${ROUNDS}: ${Object.entries(mbps).map(([k, v]) => `${k} ${f(v)} MiB/s (x${(v / mbps.direct).toFixed(2)})`).join(', ')}`)
  console.log(JSON.stringify({n: N, rounds: ROUNDS, latencyMs: latency, throughputMiBps: mbps}))
} finally {
  for (const c of cleanup.reverse()) await Promise.resolve(c()).catch(() => {})
  await lab.stop()
}
