#!/usr/bin/env node
// target discover on a cluster of 10,000 Deployments (real lab apiserver), next to the bare
// paginated list calls it cannot avoid, measured in the same run against the same apiserver.
// Targets: within 1.5x of the bare list calls ("lean" below), peak RSS under 300 MB. Needs
// /usr/bin/time (Debian: time). WORKLOADS (default 10000) and ROUNDS (default 5) change the size
// and the number of rounds.
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
  // The controller-manager keeps creating a ReplicaSet for each new Deployment while the rounds
  // run (its client is limited to 20 requests/s: over ten minutes for 10,000). Waiting for that
  // would make the bench last ~20 minutes; the churn is light and lands on every command alike.

  const env = {...process.env, KUBECONFIG: cp.kubeconfigPath, CLOUDTASER_ACTOR: 'bench'}
  const measure = (args) => {
    const r = spawnSync('/usr/bin/time', ['-f', '%e %M %U %S', process.execPath, ...args], {env, encoding: 'utf8', maxBuffer: 1 << 28, cwd: dir})
    if (r.status !== 0) throw new Error(r.stderr)
    const [sec, kb, user, sys] = r.stderr.trim().split('\n').at(-1).split(' ').map(Number)
    return {ms: sec * 1000, rssMb: kb / 1024, cpuMs: (user + sys) * 1000}
  }
  const {writeFileSync, symlinkSync} = await import('node:fs')
  symlinkSync(new URL('../node_modules', import.meta.url).pathname, join(dir, 'node_modules'))
  const dist = (p) => JSON.stringify(new URL(`../dist/${p}`, import.meta.url).href)
  // Baselines: the list calls discover makes, in its order, 500 per page (and process start-up),
  // each response parsed and dropped; nothing else. "lean" resolves the kubeconfig with our
  // resolver, the cheapest way this machine can make these calls: the target is measured against
  // it. "client-node" loads the kubeconfig with @kubernetes/client-node, as a plain script would.
  const lists = `
    await http.get('/api/v1/namespaces/kube-system')
    await eachListed(http, '/api/v1/secrets', () => {}, {accept: METADATA_ONLY})
    for (const p of ['/apis/apps/v1/deployments', '/apis/apps/v1/statefulsets', '/apis/apps/v1/daemonsets', '/apis/batch/v1/cronjobs', '/apis/batch/v1/jobs', '/api/v1/pods']) await eachListed(http, p, () => {})`
  const bareClient = join(dir, 'bare-client-node.mjs')
  writeFileSync(bareClient, `
    import {eachListed, kubeHttp, METADATA_ONLY} from ${dist('lib/kube/http.js')}
    import {KubeConfig} from '@kubernetes/client-node'
    const kc = new KubeConfig(); kc.loadFromDefault()
    const http = await kubeHttp(kc)${lists}`)
  const bareLean = join(dir, 'bare-lean.mjs')
  writeFileSync(bareLean, `
    import {eachListed, kubeHttp, METADATA_ONLY} from ${dist('lib/kube/http.js')}
    import {resolveKubeconfig} from ${dist('lib/kube/kubeconfig.js')}
    const http = await kubeHttp(resolveKubeconfig({}))${lists}`)
  const runs = {client: [], lean: [], discover: []}
  const commands = {
    client: [bareClient],
    lean: [bareLean],
    discover: [new URL('../bin/run.js', import.meta.url).pathname, 'target', 'discover', '-o', join(dir, 'plan.yaml'), '--cluster-name', 'bench'],
  }
  // The machine is shared: rotate the order every round and compare within rounds (median of ratios).
  const ROUNDS = Number(process.env.ROUNDS ?? 5)
  const order = Object.keys(commands)
  for (let r = 0; r < ROUNDS; r++) {
    for (const k of [...order.slice(r % 3), ...order.slice(0, r % 3)]) runs[k].push(measure(commands[k]))
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  // CPU time (user + system, all threads) is less sensitive than wall time to what else runs.
  const line = (label, k) => console.log(`${label.padEnd(48)} median ${median(runs[k].map((x) => x.ms)).toFixed(0)} ms (CPU ${median(runs[k].map((x) => x.cpuMs)).toFixed(0)} ms), peak RSS max ${Math.max(...runs[k].map((x) => x.rssMb)).toFixed(0)} MB`)
  line('bare list calls (lean: the baseline):', 'lean')
  line('bare list calls, kubeconfig via client-node:', 'client')
  line('target discover -o plan.yaml:', 'discover')
  const ratio = (k) => median(runs.discover.map((d, i) => d.ms / runs[k][i].ms))
  const lean = ratio('lean')
  console.log(`time discover / bare list calls (lean), median of ${ROUNDS} same-round ratios: ${lean.toFixed(2)}x (target <= 1.5x: ${lean <= 1.5 ? 'met' : 'NOT met'}); rounds: ${runs.discover.map((d, i) => (d.ms / runs.lean[i].ms).toFixed(2)).join(' ')}`)
  console.log(`time discover / bare list calls with client-node, for reference: ${ratio('client').toFixed(2)}x`)
  const rss = Math.max(...runs.discover.map((x) => x.rssMb))
  console.log(`peak RSS discover: ${rss.toFixed(0)} MB (target < 300 MB: ${rss < 300 ? 'met' : 'NOT met'})`)
} finally {
  await cp.stop()
  rmSync(dir, {recursive: true, force: true})
}
