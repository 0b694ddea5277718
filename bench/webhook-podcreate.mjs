#!/usr/bin/env node
// The webhook's cost. (1) Pod creation through the real lab apiserver, labelled pods (sent to the
// webhook, mutated) vs unlabelled pods (objectSelector keeps them away): same run, same apiserver,
// arms interleaved in rounds so drift hits both. (2) One AdmissionReview straight to the server
// over a keep-alive TLS connection vs GET /healthz on the same connection (TLS + HTTP baseline).
// Needs `npm run build` first (imports dist/).
import {request, Agent} from 'node:https'
import {CoreV1Api} from '@kubernetes/client-node'

const N = Number(process.env.PODS ?? 300)
const REVIEWS = Number(process.env.REVIEWS ?? 2000)
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 8)
const {startControlPlane} = await import('../dist/lib/lab/index.js')
const {startOperator} = await import('../dist/runtime/operator/server.js')

const stats = (ms) => {
  const s = [...ms].sort((a, b) => a - b)
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(2)
  return {n: s.length, mean: (s.reduce((a, b) => a + b, 0) / s.length).toFixed(2), p50: q(0.5), p95: q(0.95), p99: q(0.99)}
}
const annotations = {
  'cloudtaser.io/inject': 'true',
  'cloudtaser.io/vault-address': 'https://bao.eu.example:8200',
  'cloudtaser.io/vault-role': 'bench',
  'cloudtaser.io/secret-paths': 'secret/data/bench/db,secret/data/bench/api',
  'cloudtaser.io/env-map': 'password=PGPASSWORD,username=PGUSER;*=API_',
}
const pod = (name, labelled) => ({
  metadata: {name, labels: labelled ? {'cloudtaser.io/inject': 'true'} : {}, annotations: labelled ? annotations : {}},
  spec: {containers: [{name: 'app', image: 'app:1', command: ['/bin/app'], args: ['--port', '8080']}, {name: 'side', image: 'side:1', command: ['side']}]},
})

const cp = await startControlPlane()
const op = await startOperator({
  mutation: {wrapperImage: 'w:1', wrapperSource: '/cloudtaser-wrapper'},
  host: '127.0.0.1', port: 0, register: true, kubeConfig: cp.kubeConfig,
  failurePolicy: 'Fail', timeoutSeconds: 5, excludeNamespaces: ['kube-system'], log: () => {},
})
try {
  const core = cp.kubeConfig.makeApiClient(CoreV1Api)
  await core.createNamespace({body: {metadata: {name: 'bench'}}})
  for (let i = 0; ; i++) {
    try {
      await core.readNamespacedServiceAccount({name: 'default', namespace: 'bench'})
      const probe = await core.createNamespacedPod({namespace: 'bench', dryRun: 'All', body: pod('probe', true)})
      if (probe.spec.containers[0].command[0] === '/cloudtaser/wrapper') break
    } catch {}
    if (i > 150) throw new Error('webhook never became active')
    await new Promise((r) => setTimeout(r, 200))
  }

  const podCreate = {}
  for (const concurrency of [1, CONCURRENCY]) {
  const times = {labelled: [], unlabelled: []}
  const rounds = 10
  const perRound = Math.ceil(N / rounds)
  for (let r = 0; r < rounds; r++) {
    for (const arm of r % 2 ? ['unlabelled', 'labelled'] : ['labelled', 'unlabelled']) {
      let i = 0
      await Promise.all(Array.from({length: concurrency}, async () => {
        while (i < perRound) {
          const name = `${arm}-c${concurrency}-${r}-${i++}`
          const t0 = performance.now()
          await core.createNamespacedPod({namespace: 'bench', body: pod(name, arm === 'labelled')})
          times[arm].push(performance.now() - t0)
        }
      }))
    }
  }
  const c = {labelled: stats(times.labelled), unlabelled: stats(times.unlabelled)}
  c.p50DeltaMs = (c.labelled.p50 - c.unlabelled.p50).toFixed(2)
  podCreate[`concurrency${concurrency}`] = c
  }
  const mutated = op.stats.mutated

  const agent = new Agent({keepAlive: true, maxSockets: 1, ca: op.caPem})
  const call = (method, path, body) => new Promise((resolve, reject) => {
    const t0 = performance.now()
    const req = request({host: '127.0.0.1', port: op.port, method, path, agent, headers: body ? {'content-type': 'application/json'} : {}}, (res) => {
      res.resume()
      res.on('end', () => resolve(performance.now() - t0))
    })
    req.on('error', reject)
    req.end(body)
  })
  const review = JSON.stringify({apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: {uid: 'u', namespace: 'bench', operation: 'CREATE', object: pod('x', true)}})
  for (let i = 0; i < 200; i++) await call('POST', '/mutate-v1-pod', review) // warm-up
  const direct = {healthz: [], review: []}
  for (let i = 0; i < REVIEWS; i++) {
    direct.healthz.push(await call('GET', '/healthz'))
    direct.review.push(await call('POST', '/mutate-v1-pod', review))
  }
  agent.destroy()

  const result = {
    podCreate: {...podCreate, mutatedByWebhook: mutated},
    direct: {review: stats(direct.review), healthzBaseline: stats(direct.healthz)},
  }
  result.direct.p50DeltaMs = (result.direct.review.p50 - result.direct.healthzBaseline.p50).toFixed(2)
  console.log(JSON.stringify(result, null, 2))
} finally {
  await op.close()
  await cp.stop()
}
