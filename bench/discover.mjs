#!/usr/bin/env node
// target discover on a cluster of 10,000 Deployments (real lab apiserver), next to the bare
// paginated list calls it cannot avoid, measured in the same run against the same apiserver.
// Targets (issue 4): within 1.5x of the bare listing, peak RSS under 300 MB. Needs /usr/bin/time (Debian: time).
import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {AppsV1Api, CoreV1Api} from '@kubernetes/client-node'

const N = Number(process.env.WORKLOADS ?? 10000)
const NAMESPACES = 20
const {startControlPlane} = await import('../dist/lib/lab/index.js')
const cp = await startControlPlane()
const dir = mkdtempSync(join(tmpdir(), 'cloudtaser-bench-discover-'))
try {
  const kc = cp.kubeConfig
  const apps = kc.makeApiClient(AppsV1Api)
  const core = kc.makeApiClient(CoreV1Api)
  const t0 = performance.now()
  const jobs = []
  for (let n = 0; n < NAMESPACES; n++) {
    const ns = `team-${n}`
    await core.createNamespace({body: {metadata: {name: ns}}})
    await core.createNamespacedSecret({namespace: ns, body: {metadata: {name: 'db'}, stringData: {password: 'bench-canary'}}})
    for (let i = 0; i < N / NAMESPACES; i++) jobs.push({ns, name: `svc-${i}`})
  }
  let next = 0
  await Promise.all(Array.from({length: 16}, async () => {
    while (next < jobs.length) {
      const {ns, name} = jobs[next++]
      await apps.createNamespacedDeployment({namespace: ns, body: {
        metadata: {name},
        spec: {replicas: 0, selector: {matchLabels: {app: name}}, template: {metadata: {labels: {app: name}}, spec: {containers: [{name: 'app', image: 'app:1', env: [
          {name: 'DB_PASSWORD', valueFrom: {secretKeyRef: {name: 'db', key: 'password'}}},
          {name: 'API_KEY', valueFrom: {secretKeyRef: {name: `${name}-api`, key: 'key'}}},
        ]}]}}},
      }})
    }
  }))
  console.log(`created ${N} Deployments in ${NAMESPACES} namespaces in ${((performance.now() - t0) / 1000).toFixed(0)} s`)

  const env = {...process.env, KUBECONFIG: cp.kubeconfigPath, CLOUDTASER_ACTOR: 'bench'}
  const measure = (args) => {
    const r = spawnSync('/usr/bin/time', ['-f', '%e %M', process.execPath, ...args], {env, encoding: 'utf8', maxBuffer: 1 << 28, cwd: dir})
    if (r.status !== 0) throw new Error(r.stderr)
    const [sec, kb] = r.stderr.trim().split('\n').at(-1).split(' ').map(Number)
    return {ms: sec * 1000, rssMb: kb / 1024}
  }
  const bareScript = join(dir, 'bare.mjs')
  const {writeFileSync} = await import('node:fs')
  // The baseline: the same paginated list calls (and process start-up), nothing else.
  writeFileSync(bareScript, `
    import {kubeHttp, listAll, METADATA_ONLY} from ${JSON.stringify(new URL('../dist/lib/kube/http.js', import.meta.url).href)}
    import {KubeConfig} from '@kubernetes/client-node'
    const kc = new KubeConfig(); kc.loadFromDefault()
    const http = await kubeHttp(kc)
    await http.get('/api/v1/namespaces/kube-system')
    for (const p of ['/apis/apps/v1/deployments', '/apis/apps/v1/statefulsets', '/apis/apps/v1/daemonsets', '/apis/batch/v1/cronjobs', '/apis/batch/v1/jobs', '/api/v1/pods']) await listAll(http, p)
    await listAll(http, '/api/v1/secrets', undefined, METADATA_ONLY)
  `)
  const {symlinkSync} = await import('node:fs')
  symlinkSync(new URL('../node_modules', import.meta.url).pathname, join(dir, 'node_modules'))
  const runs = (f) => {
    const r = [f(), f(), f()].sort((a, b) => a.ms - b.ms)
    return r[1]
  }
  const bare = runs(() => measure([bareScript]))
  const ours = runs(() => measure([new URL('../bin/run.js', import.meta.url).pathname, 'target', 'discover', '-o', join(dir, 'plan.yaml'), '--cluster-name', 'bench']))
  console.log(`bare list calls (node start-up included): ${bare.ms.toFixed(0)} ms, peak RSS ${bare.rssMb.toFixed(0)} MB`)
  console.log(`target discover -o plan.yaml:             ${ours.ms.toFixed(0)} ms, peak RSS ${ours.rssMb.toFixed(0)} MB (target < 1.5x, < 300 MB)`)
  console.log(`ratio time discover/bare: ${(ours.ms / bare.ms).toFixed(2)}x`)
  console.log(`ratio RSS  discover/bare: ${(ours.rssMb / bare.rssMb).toFixed(2)}x`)
} finally {
  await cp.stop()
  rmSync(dir, {recursive: true, force: true})
}
