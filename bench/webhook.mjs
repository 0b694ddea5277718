#!/usr/bin/env node
// Admission latency of the webhook at a fixed rate (RATE req/s, default 200, like a busy
// apiserver), against a bare Node HTTPS server answering the same bytes, in the same run.
// Each server runs in its own process; rounds alternate the order (the machine is shared).
// Needs `npm run build` first (imports dist/).
import {spawn} from 'node:child_process'
import {writeFileSync, mkdtempSync, rmSync} from 'node:fs'
import {Agent, request} from 'node:https'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

const RATE = Number(process.env.RATE ?? 200)
const SECONDS = Number(process.env.SECONDS ?? 5)
const ROUNDS = Number(process.env.ROUNDS ?? 2)
const dir = mkdtempSync(join(tmpdir(), 'cloudtaser-bench-webhook-'))
const pod = {
  metadata: {
    generateName: 'billing-7d9f-',
    namespace: 'apps',
    labels: {app: 'billing', 'cloudtaser.io/inject': 'true', 'pod-template-hash': '7d9f'},
    annotations: {
      'cloudtaser.io/inject': 'true',
      'cloudtaser.io/vault-address': 'https://bao.eu.example:8200',
      'cloudtaser.io/vault-role': 'billing',
      'cloudtaser.io/secret-paths': 'secret/data/billing/db,secret/data/billing/api',
      'cloudtaser.io/env-map': 'password=PGPASSWORD,username=PGUSER;*=API_',
    },
  },
  spec: {
    serviceAccountName: 'billing',
    containers: [{name: 'app', image: 'registry.example/billing:1.4.2', command: ['/bin/billing'], args: ['--port', '8080'], env: [{name: 'MODE', value: 'prod'}], ports: [{containerPort: 8080}], resources: {requests: {cpu: '100m', memory: '128Mi'}}}],
  },
}
const reviewBody = JSON.stringify({apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: {uid: '0f1e2d3c-aaaa-bbbb-cccc-111122223333', kind: {group: '', version: 'v1', kind: 'Pod'}, resource: {group: '', version: 'v1', resource: 'pods'}, namespace: 'apps', operation: 'CREATE', object: pod}})
writeFileSync(join(dir, 'review.json'), reviewBody)

const startServer = (kind) =>
  new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [new URL('./webhook-server.mjs', import.meta.url).pathname, kind, join(dir, 'review.json')], {stdio: ['ignore', 'pipe', 'inherit']})
    p.stdout.once('data', (c) => resolve({proc: p, ...JSON.parse(c.toString())}))
    p.once('exit', (code) => reject(new Error(`${kind} server exited ${code}`)))
  })

async function load(server) {
  const agent = new Agent({keepAlive: true, maxSockets: 8, ca: server.ca})
  const lat = []
  let bytes = 0
  const one = () =>
    new Promise((resolve, reject) => {
      const t0 = process.hrtime.bigint()
      const req = request({host: '127.0.0.1', port: server.port, path: '/mutate-v1-pod', method: 'POST', agent, headers: {'content-type': 'application/json'}}, (res) => {
        let n = 0
        res.on('data', (c) => (n += c.length))
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}`))
          lat.push(Number(process.hrtime.bigint() - t0) / 1e6)
          bytes = n
          resolve()
        })
      })
      req.on('error', reject)
      req.end(reviewBody)
    })
  // Warm-up: JIT, and every one of the agent's 8 keep-alive connections opened (the apiserver
  // keeps its connections to a webhook): the measured requests pay no TLS handshake.
  for (let i = 0; i < 10; i++) await Promise.all(Array.from({length: 8}, one))
  lat.length = 0
  const n = RATE * SECONDS
  const start = performance.now()
  const pending = []
  for (let i = 0; i < n; i++) {
    const due = start + (i * 1000) / RATE
    const wait = due - performance.now()
    if (wait > 1) await sleep(wait)
    pending.push(one())
  }
  await Promise.all(pending)
  agent.destroy()
  return {lat, bytes}
}

const pct = (a, p) => a.toSorted((x, y) => x - y)[Math.min(a.length - 1, Math.floor((p / 100) * a.length))]
const servers = {operator: await startServer('operator'), bare: await startServer('bare')}
const all = {operator: [], bare: []}
let size = {}
try {
  for (let r = 0; r < ROUNDS; r++) {
    for (const kind of r % 2 === 0 ? ['operator', 'bare'] : ['bare', 'operator']) {
      const {lat, bytes} = await load(servers[kind])
      all[kind].push(...lat)
      size[kind] = bytes
    }
  }
} finally {
  for (const s of Object.values(servers)) s.proc.kill()
  rmSync(dir, {recursive: true, force: true})
}
console.log(`webhook admission latency at ${RATE} req/s, ${ROUNDS} x ${SECONDS}s per server, request ${reviewBody.length} B`)
console.log('server      requests  response  p50 ms  p99 ms  max ms')
for (const kind of ['operator', 'bare']) {
  const a = all[kind]
  console.log(`${kind.padEnd(10)}  ${String(a.length).padStart(8)}  ${String(size[kind]).padStart(6)} B  ${pct(a, 50).toFixed(2).padStart(6)}  ${pct(a, 99).toFixed(2).padStart(6)}  ${Math.max(...a).toFixed(2).padStart(6)}`)
}
const p99 = pct(all.operator, 99)
console.log(`operator p99 - bare p99: ${(p99 - pct(all.bare, 99)).toFixed(2)} ms; target p99 < 5 ms: ${p99 < 5 ? 'met' : 'NOT met'}`)
