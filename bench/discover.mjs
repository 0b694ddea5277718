#!/usr/bin/env node
// `cloudtaser target discover -o plan.yaml --context <ctx>` as a user types it (bin/run.js, through
// oclif) on a cluster of 10,000 Deployments (real lab apiserver), next to the bare paginated list
// calls it cannot avoid, measured in the same run against the same apiserver. Targets: within 2x
// of the bare list calls paged as kubectl pages ("plain" below), peak RSS under 300 MB. Needs
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
// Without the controller-manager: with it, the 10,000 new Deployments get a ReplicaSet each, at
// its client's 20 requests/s, for the whole bench, and the churn was the largest source of noise.
// Discover lists no ReplicaSets (and replicas: 0 makes no Pods), so its work is the same.
await cp.processes.find((p) => p.name === 'kube-controller-manager')?.stop()
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
    const r = spawnSync('/usr/bin/time', ['-f', '%e %M %U %S', process.execPath, ...args], {env, encoding: 'utf8', maxBuffer: 1 << 28, cwd: dir})
    if (r.status !== 0) throw new Error(r.stderr)
    const [sec, kb, user, sys] = r.stderr.trim().split('\n').at(-1).split(' ').map(Number)
    return {ms: sec * 1000, rssMb: kb / 1024, cpuMs: (user + sys) * 1000}
  }
  const {writeFileSync, symlinkSync} = await import('node:fs')
  symlinkSync(new URL('../node_modules', import.meta.url).pathname, join(dir, 'node_modules'))
  const dist = (p) => JSON.stringify(new URL(`../dist/${p}`, import.meta.url).href)
  // Baselines: the list calls discover makes, in its order, 500 per page (and process start-up),
  // each response parsed and dropped; nothing else. "plain" pages as kubectl and client-go do: the
  // next page is asked for once a page has arrived and been parsed. "lean" pages as discover does
  // (lib/kube/http.ts eachListed: the next page is asked for as soon as a page's head names its
  // token), the cheapest way this machine can make these calls, for reference. Both resolve the
  // kubeconfig with lib/kube's resolver, as discover does.
  const calls = (each) => `
    await http.get('/api/v1/namespaces/kube-system')
    await ${each}(http, '/api/v1/secrets', () => {}, {accept: METADATA_ONLY})
    for (const p of ['/apis/apps/v1/deployments', '/apis/apps/v1/statefulsets', '/apis/apps/v1/daemonsets', '/apis/batch/v1/cronjobs', '/apis/batch/v1/jobs', '/api/v1/pods']) await ${each}(http, p, () => {})`
  const script = (name, head, each = 'eachListed') => {
    const file = join(dir, name)
    writeFileSync(file, `
    import {eachListed, kubeHttp, METADATA_ONLY} from ${dist('lib/kube/http.js')}
    ${head}${calls(each)}`)
    return file
  }
  const lean = `
    import {resolveKubeconfig} from ${dist('lib/kube/kubeconfig.js')}
    const http = await kubeHttp(resolveKubeconfig({}))`
  const bareLean = script('bare-lean.mjs', lean)
  const barePlain = script('bare-plain.mjs', `${lean}
    async function sequential(http, path, each, {accept} = {}) {
      let page = await http.get(\`\${path}?limit=500\`, accept)
      for (;;) {
        const token = page.metadata?.continue
        const next = token ? http.get(\`\${path}?limit=500&continue=\${encodeURIComponent(token)}\`, accept) : undefined
        for (const item of page.items) each(item)
        if (!next) return
        page = await next
      }
    }`, 'sequential')
  const runs = {plain: [], lean: [], discover: []}
  const commands = {
    plain: [barePlain],
    lean: [bareLean],
    discover: [new URL('../bin/run.js', import.meta.url).pathname, 'target', 'discover', '-o', 'plan.yaml', '--context', kc.getCurrentContext()],
  }
  // The machine is shared: rotate the order every round and compare within rounds (median of ratios).
  const ROUNDS = Number(process.env.ROUNDS ?? 5)
  const order = Object.keys(commands)
  for (let r = 0; r < ROUNDS; r++) {
    for (const k of [...order.slice(r % order.length), ...order.slice(0, r % order.length)]) runs[k].push(measure(commands[k]))
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  // CPU time (user + system, all threads) is less sensitive than wall time to what else runs.
  const line = (label, k) => console.log(`${label.padEnd(48)} median ${median(runs[k].map((x) => x.ms)).toFixed(0)} ms (CPU ${median(runs[k].map((x) => x.cpuMs)).toFixed(0)} ms), peak RSS max ${Math.max(...runs[k].map((x) => x.rssMb)).toFixed(0)} MB`)
  line('bare list calls, paged as discover (lean):', 'lean')
  line('bare list calls, paged as kubectl (plain):', 'plain')
  line('target discover -o plan.yaml --context <ctx>:', 'discover')
  const ratio = (k) => median(runs.discover.map((d, i) => d.ms / runs[k][i].ms))
  const rounds = (k) => runs.discover.map((d, i) => (d.ms / runs[k][i].ms).toFixed(2)).join(' ')
  const r = ratio('plain')
  console.log(`time discover / bare list calls paged as kubectl pages (plain), median of ${ROUNDS} same-round ratios: ${r.toFixed(2)}x (target <= 2x: ${r <= 2 ? 'met' : 'NOT met'}); rounds: ${rounds('plain')}`)
  console.log(`time discover / bare list calls paged as discover pages (lean), for reference: ${ratio('lean').toFixed(2)}x; rounds: ${rounds('lean')}`)
  const rss = Math.max(...runs.discover.map((x) => x.rssMb))
  console.log(`peak RSS discover: ${rss.toFixed(0)} MB (target < 300 MB: ${rss < 300 ? 'met' : 'NOT met'})`)
} finally {
  await cp.stop()
  rmSync(dir, {recursive: true, force: true})
}
