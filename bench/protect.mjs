#!/usr/bin/env node
// target protect on 1,000 Deployments against the real lab apiserver, with bounded concurrency.
// Baseline, same run, same apiserver: the bare API work protect cannot avoid (GET + PUT of each
// Deployment at the same concurrency, on a second identical set). Requests are counted by the
// apiserver itself (apiserver_request_total), not by us.
import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {AppsV1Api, CoreV1Api} from '@kubernetes/client-node'

const N = Number(process.env.WORKLOADS ?? 1000)
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 8)
const {startControlPlane} = await import('../dist/lib/lab/index.js')
const {renderPlan} = await import('../dist/lib/plan/io.js')

const cp = await startControlPlane()
const dir = mkdtempSync(join(tmpdir(), 'cloudtaser-bench-protect-'))
try {
  const kc = cp.kubeConfig
  const apps = kc.makeApiClient(AppsV1Api)
  const core = kc.makeApiClient(CoreV1Api)
  const fingerprint = (await core.readNamespace({name: 'kube-system'})).metadata.uid

  const pool = async (items, fn) => {
    let i = 0
    await Promise.all(Array.from({length: CONCURRENCY}, async () => {
      while (i < items.length) await fn(items[i++])
    }))
  }
  const deployment = (name) => ({
    metadata: {name},
    spec: {
      replicas: 0,
      selector: {matchLabels: {app: name}},
      template: {
        metadata: {labels: {app: name}},
        spec: {containers: [{name: 'app', image: 'app:1', env: [{name: 'DB_PASSWORD', valueFrom: {secretKeyRef: {name: `${name}-db`, key: 'password'}}}]}]},
      },
    },
  })
  const names = Array.from({length: N}, (_, i) => `svc-${i}`)
  for (const ns of ['bench-protect', 'bench-bare']) {
    await core.createNamespace({body: {metadata: {name: ns}}})
    await pool(names, (name) => apps.createNamespacedDeployment({namespace: ns, body: deployment(name)}))
  }

  const requests = async () => {
    const text = await getMetrics(kc, cp.server)
    let total = 0
    for (const line of text.split('\n')) if (line.startsWith('apiserver_request_total{')) total += Number(line.split(' ').at(-1))
    return total
  }

  // Baseline: GET + PUT with one annotation added, same concurrency.
  let r0 = await requests()
  let t0 = performance.now()
  await pool(names, async (name) => {
    const d = await apps.readNamespacedDeployment({name, namespace: 'bench-bare'})
    d.spec.template.metadata.annotations = {'cloudtaser.io/inject': 'true'}
    await apps.replaceNamespacedDeployment({name, namespace: 'bench-bare', body: d})
  })
  const bareMs = performance.now() - t0
  const bareReq = (await requests()) - r0

  const plan = {
    apiVersion: 'cloudtaser.io/v1',
    kind: 'MigrationPlan',
    metadata: {name: 'bench', cluster: {name: 'bench', fingerprint}},
    openbao: {address: 'https://openbao.example.eu:8200'},
    tenants: [{
      name: 'bench-protect', namespace: 'bench-protect', role: 'cloudtaser-bench',
      workloads: names.map((name) => ({
        kind: 'Deployment', name, secrets: [{source: {name: `${name}-db`}, vaultPath: `secret/data/bench/${name}-db`, fields: {password: 'DB_PASSWORD'}}], status: {state: 'pending'},
      })),
    }],
  }
  const planFile = join(dir, 'plan.yaml')
  writeFileSync(planFile, renderPlan(plan))
  r0 = await requests()
  t0 = performance.now()
  const run = spawnSync(process.execPath, ['bin/run.js', 'target', 'protect', '--plan', planFile, '--yes', '--json', '--concurrency', String(CONCURRENCY)], {
    env: {...process.env, KUBECONFIG: cp.kubeconfigPath, CLOUDTASER_ACTOR: 'bench'},
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  })
  const protectMs = performance.now() - t0
  const protectReq = (await requests()) - r0
  if (run.status !== 0) throw new Error(run.stderr || run.stdout)
  const result = JSON.parse(run.stdout)
  const migrated = result.processed.filter((o) => o.outcome === 'migrated').length

  console.log(`workloads: ${N}, concurrency ${CONCURRENCY}`)
  console.log(`bare GET+PUT:      ${bareMs.toFixed(0)} ms, ${bareReq} requests, ${(bareReq / (bareMs / 1000)).toFixed(0)} req/s`)
  console.log(`target protect:    ${protectMs.toFixed(0)} ms (whole CLI run incl. start-up, lease, fingerprint), ${protectReq} requests, ${(protectReq / (protectMs / 1000)).toFixed(0)} req/s, ${migrated} migrated, ${result.planWrites} plan writes`)
  console.log(`ratio time protect/bare: ${(protectMs / bareMs).toFixed(2)}x`)
  console.log(`ratio requests protect/bare: ${(protectReq / bareReq).toFixed(2)}x`)
} finally {
  await cp.stop()
  rmSync(dir, {recursive: true, force: true})
}

async function getMetrics(kc, server) {
  const {request} = await import('node:https')
  const opts = {headers: {}}
  await kc.applyToHTTPSOptions(opts)
  return new Promise((resolve, reject) => {
    const req = request(`${server}/metrics`, opts, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve(body))
    })
    req.on('error', reject)
    req.end()
  })
}
