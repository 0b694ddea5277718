#!/usr/bin/env node
// Admission while the leader operator Pod dies, on the lab's node with the chart installed as the
// demo installs it (2 replicas, webhook material in OpenBao). Per round, for WINDOW ms, a labelled
// Pod (the webhook's objectSelector matches it) and an ordinary Pod are created every 100 ms with
// dryRun=All, so the apiserver runs admission and stores nothing:
//   baseline round: nobody is killed;
//   kill round: SIGKILL to the leader's process on the host, as a crashed or OOM-killed Pod.
// Reported per round: labelled Pods refused (failurePolicy Fail: a refusal is the webhook being
// unreachable, never a Pod admitted unwrapped), ordinary Pods refused (must be 0: the webhook
// never sees them), the window from the first to the last refusal, and how long until the Lease
// names a live replica again. Needs `npm run build` first and root (the lab's node).
import {spawnSync} from 'node:child_process'
import {mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {CoordinationV1Api, CoreV1Api, KubeConfig} from '@kubernetes/client-node'
import {isMutated} from '../dist/lib/wrapped-pod.js'

const RUNS = Number(process.env.RUNS ?? 3)
const WINDOW = Number(process.env.WINDOW ?? 25_000)
const root = new URL('..', import.meta.url).pathname
const work = mkdtempSync(join(tmpdir(), 'cloudtaser-bench-leaderkill-'))
const env = {...process.env, CLOUDTASER_ACTOR: 'bench@cloudtaser', CLOUDTASER_LAB_DIR: join(work, 'lab')}
const SYSTEM = 'cloudtaser-system'
const NS = 'leader-kill'
const LEASE = 'cloudtaser-operator-leader'
const log = (s) => process.stderr.write(`${s}\n`)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function run(cmd, args) {
  const r = spawnSync(cmd, args, {cwd: work, env, encoding: 'utf8', maxBuffer: 64 << 20})
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}\n${r.stdout}${r.stderr}`)
  return r
}
const cli = (args) => run(process.execPath, [join(root, 'bin/run.js'), ...args])

let labUp = false
process.on('exit', () => {
  if (labUp) spawnSync(process.execPath, [join(root, 'bin/run.js'), 'lab', 'down'], {cwd: work, env, stdio: 'ignore'})
  rmSync(work, {recursive: true, force: true})
})
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130))

// ---- setup: as the demo installs cloudtaser
labUp = true
cli(['lab', 'up'])
const labEnv = JSON.parse(cli(['lab', 'env', '--json']).stdout)
Object.assign(env, {KUBECONFIG: labEnv.KUBECONFIG, BAO_ADDR: labEnv.BAO_ADDR, BAO_TOKEN: labEnv.BAO_TOKEN, PATH: `${labEnv.PATH_PREPEND}:${env.PATH}`})
log('lab up; building and pushing images')
cli(['lab', 'images', '--json'])
cli(['target', 'connect'])
cli(['source', 'configure'])
cli(['target', 'install', '--vault-address', env.BAO_ADDR, '--set', `operator.registryMirrors[0]=cloudtaser.lab=http://${labEnv.CLOUDTASER_LAB_REGISTRY}`, '--set', 'ebpf.bpffsMountPropagation=None', '--wait', '--timeout', '3m'])
const kc = new KubeConfig()
kc.loadFromFile(env.KUBECONFIG)
const core = kc.makeApiClient(CoreV1Api)
const leases = kc.makeApiClient(CoordinationV1Api)
await core.createNamespace({body: {metadata: {name: NS}}})

const operatorPods = async () => (await core.listNamespacedPod({namespace: SYSTEM, labelSelector: 'app.kubernetes.io/component=operator'})).items
// A replica's identity in the Lease is its Pod name (the host name) plus a random suffix.
const podOf = (identity) => identity.replace(/_[0-9a-f]+$/, '')
const holder = async () => (await leases.readNamespacedLease({name: LEASE, namespace: SYSTEM})).spec?.holderIdentity ?? ''
async function ready() {
  for (const end = Date.now() + 180_000; Date.now() < end; await sleep(500)) {
    const pods = await operatorPods()
    const h = await holder().catch(() => '')
    if (pods.length === 2 && pods.every((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) && pods.some((p) => podOf(h) === p.metadata.name)) return h
  }
  throw new Error('operator replicas not Ready with a leader after 180 s')
}

// The leader's processes on the host, found by its container's ID in /proc/<pid>/cgroup.
function hostPids(pod) {
  const ids = (pod.status?.containerStatuses ?? []).map((c) => (c.containerID ?? '').replace(/^\w+:\/\//, '')).filter(Boolean)
  const pids = []
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cgroup = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
      if (ids.some((id) => cgroup.includes(id))) pids.push(Number(pid))
    } catch {
      // gone between readdir and read
    }
  }
  return pids
}

// What `target protect` leaves on a Pod template, so that admission really wraps it.
const protectedAnnotations = {
  'cloudtaser.io/vault-role': 'leader-kill',
  'cloudtaser.io/secret-paths': 'secret/data/leader-kill/app',
  'cloudtaser.io/env-map': 'password=PASSWORD',
}
const pod = (name, labelled) => ({
  metadata: {name, labels: labelled ? {'cloudtaser.io/inject': 'true'} : {}, annotations: labelled ? protectedAnnotations : {}},
  spec: {containers: [{name: 'app', image: 'cloudtaser.lab/redis:demo', command: ['redis-server']}]},
})

async function round(kill) {
  const before = await ready()
  const t0 = Date.now()
  const refusals = {labelled: [], ordinary: []}
  const counts = {labelled: 0, ordinary: 0}
  const wrapped = {labelled: 0, ordinary: 0}
  const admittedAt = []
  const calls = []
  let killedAt
  let newLeaderAt
  for (let i = 0; Date.now() - t0 < WINDOW; i++) {
    const at = Date.now() - t0
    if (kill && killedAt === undefined && at >= 3000) {
      const leader = (await operatorPods()).find((p) => p.metadata.name === podOf(before))
      const pids = hostPids(leader)
      if (pids.length === 0) throw new Error(`no host process found for the leader ${before}`)
      for (const p of pids) process.kill(p, 'SIGKILL')
      killedAt = Date.now() - t0
    }
    if (killedAt !== undefined && newLeaderAt === undefined) {
      holder().then((h) => {
        if (newLeaderAt === undefined && h && h !== before) newLeaderAt = Date.now() - t0
      }, () => {})
    }
    for (const kind of ['labelled', 'ordinary']) {
      counts[kind]++
      calls.push(core.createNamespacedPod({namespace: NS, body: pod(`${kind}-${i}`, kind === 'labelled'), dryRun: 'All'}).then((p) => {
        if (isMutated(p)) wrapped[kind]++
        if (kind === 'labelled') admittedAt.push(at)
      }, (e) => {
        refusals[kind].push({at, error: String(e.body ?? e.message).slice(0, 200)})
      }))
    }
    await sleep(100)
  }
  await Promise.all(calls)
  // Unavailable from the last admission before the first refusal to the first after the last one.
  const at = refusals.labelled.map((r) => r.at)
  const from = Math.max(0, ...admittedAt.filter((a) => a < Math.min(...at)))
  const to = Math.min(WINDOW, ...admittedAt.filter((a) => a > Math.max(...at)))
  return {
    kill,
    labelled: counts.labelled,
    ordinary: counts.ordinary,
    refusedLabelled: refusals.labelled.length,
    refusedOrdinary: refusals.ordinary.length,
    wrappedLabelled: wrapped.labelled,
    wrappedOrdinary: wrapped.ordinary,
    windowMs: at.length ? to - from : 0,
    newLeaderMs: killedAt === undefined || newLeaderAt === undefined ? undefined : newLeaderAt - killedAt,
    firstError: refusals.labelled[0]?.error ?? refusals.ordinary[0]?.error,
  }
}

const results = []
for (let r = 0; r < RUNS; r++) {
  for (const kill of [false, true]) {
    const res = await round(kill)
    results.push(res)
    log(JSON.stringify(res))
  }
}
const fmt = (r) => `${r.kill ? 'kill    ' : 'baseline'}  labelled refused ${r.refusedLabelled}/${r.labelled} (admitted wrapped ${r.wrappedLabelled}), ordinary refused ${r.refusedOrdinary}/${r.ordinary} (wrapped ${r.wrappedOrdinary}), unavailable <= ${r.windowMs} ms${r.kill ? `, new leader after ${r.newLeaderMs === undefined ? `> ${WINDOW} ms` : `${r.newLeaderMs} ms`}` : ''}`
console.log(`leader kill on the lab node, ${RUNS} rounds of ${WINDOW / 1000} s, a labelled and an ordinary dry-run Pod every 100 ms`)
for (const r of results) console.log(fmt(r))
