#!/usr/bin/env node
// Pod start time of the demo's Redis on the lab's node, one lab, arms interleaved in rounds so
// drift hits all three: from creating a Deployment to its Pod Ready.
//   (a) unprotected: the password from a Kubernetes Secret (the baseline);
//   (b) protected by cloudtaser: the webhook adds the wrapper's init container, the wrapper logs
//       in to OpenBao and fetches the password before it starts Redis;
//   (c) OpenBao's own agent, Vault Agent Injector style: an init container `bao agent
//       -exit-after-auth` renders the password into a memory emptyDir, then the same agent as a
//       native sidecar (init container with restartPolicy: Always) keeps it current; Redis reads
//       the file.
// Every arm has the same readiness probe (tcpSocket, periodSeconds 1). One warm-up Pod per arm
// first (image pulls), not counted. Then memory: the operator Pod (RSS of its processes and its
// cgroup's memory.current), and per protected Pod the wrapper's RSS vs the bao agent sidecar's.
// The setup is the demo's workflow (lab up, images, target install, discover, apply-plan,
// protect). Needs `npm run build` first (imports dist/) and root (the lab's node).
import {spawnSync} from 'node:child_process'
import {mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {load, loadAll} from 'js-yaml'
import {AppsV1Api, CoreV1Api, KubeConfig} from '@kubernetes/client-node'

const RUNS = Number(process.env.RUNS ?? 5)
const root = new URL('..', import.meta.url).pathname
const {BAO_AGENT, buildImage, pushImage} = await import('../dist/lib/lab/index.js')
const work = mkdtempSync(join(tmpdir(), 'cloudtaser-bench-podstart-'))
const env = {...process.env, CLOUDTASER_ACTOR: 'bench@cloudtaser', CLOUDTASER_LAB_DIR: join(work, 'lab')}
const NS = 'redis-demo'
const log = (s) => process.stderr.write(`${s}\n`)

function run(cmd, args, {input, allowFail = false} = {}) {
  const r = spawnSync(cmd, args, {cwd: work, env, encoding: 'utf8', input, maxBuffer: 64 << 20})
  if (r.status !== 0 && !allowFail) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}\n${r.stdout}${r.stderr}`)
  return r
}
const cli = (args, opts) => run(process.execPath, [join(root, 'bin/run.js'), ...args], opts)
const kubectl = (args, opts) => run(join(env.CLOUDTASER_LAB_DIR, 'bin/kubectl'), args, opts)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

let labUp = false
process.on('exit', () => {
  if (labUp) spawnSync(process.execPath, [join(root, 'bin/run.js'), 'lab', 'down'], {cwd: work, env, stdio: 'ignore'})
  rmSync(work, {recursive: true, force: true})
})
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130))

// ---- setup: the demo's workflow up to a protected Redis
const tSetup = Date.now()
labUp = true
cli(['lab', 'up'])
const labEnv = JSON.parse(cli(['lab', 'env', '--json']).stdout)
Object.assign(env, {KUBECONFIG: labEnv.KUBECONFIG, BAO_ADDR: labEnv.BAO_ADDR, BAO_TOKEN: labEnv.BAO_TOKEN, PATH: `${labEnv.PATH_PREPEND}:${env.PATH}`})
const registry = labEnv.CLOUDTASER_LAB_REGISTRY
log('lab up; building and pushing images')
cli(['lab', 'images', '--json'])
const agentImage = await buildImage(BAO_AGENT)
await pushImage(agentImage, registry)
// As the demo: OpenBao's Kubernetes auth and the operator's policy and role before the install.
cli(['target', 'connect'])
cli(['source', 'configure'])
cli(['target', 'install', '--vault-address', env.BAO_ADDR, '--set', `operator.registryMirrors[0]=cloudtaser.lab=http://${registry}`, '--set', 'ebpf.bpffsMountPropagation=None', '--wait', '--timeout', '3m'])
const manifest = join(root, 'examples/demo/redis.yaml')
const objects = loadAll(readFileSync(manifest, 'utf8')).filter(Boolean)
kubectl(['apply', '-f', manifest])
kubectl(['-n', NS, 'rollout', 'status', 'deployment/redis', 'deployment/redis-client', '--timeout=180s'])
const planFile = join(work, 'plan.yaml')
cli(['target', 'discover', '-o', planFile, '--cluster-name', 'lab', '--vault-address', env.BAO_ADDR])
cli(['source', 'apply-plan', planFile])
const values = objects.find((o) => o.kind === 'Secret').stringData
const kc = new KubeConfig()
kc.loadFromFile(env.KUBECONFIG)
const apps = kc.makeApiClient(AppsV1Api)
const core = kc.makeApiClient(CoreV1Api)
// The value into OpenBao at the plan's KV path, on stdin (as the demo does).
const plan = load(readFileSync(planFile, 'utf8'))
const kvPaths = new Set(plan.tenants.flatMap((t) => t.workloads.flatMap((w) => w.secrets.map((s) => s.vaultPath))))
for (const p of kvPaths) run(join(env.CLOUDTASER_LAB_DIR, 'bin/bao'), ['kv', 'put', p.replace('/data/', '/'), '-'], {input: JSON.stringify(values)})
cli(['source', 'verify-plan', planFile])
cli(['target', 'protect', '--plan', planFile, '--yes', '--wait'])
const protectedTemplate = (await apps.readNamespacedDeployment({name: 'redis', namespace: NS})).spec.template
const original = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'redis').spec.template
const ann = protectedTemplate.metadata.annotations
log(`setup done in ${((Date.now() - tSetup) / 1000).toFixed(0)} s; protected template annotations: ${Object.keys(ann).filter((k) => k.startsWith('cloudtaser.io/')).join(', ')}`)

// ---- the three templates
const probe = {tcpSocket: {port: 6379}, periodSeconds: 1}
const withProbe = (t) => {
  const c = structuredClone(t)
  for (const x of c.spec.containers) x.readinessProbe = probe
  // The demo's Redis has a shell as PID 1 (its entrypoint's pipe), which ignores SIGTERM: without
  // this each deletion waits the default 30 s. Start times are unaffected.
  c.spec.terminationGracePeriodSeconds = 1
  return c
}
const [kvPath] = ann['cloudtaser.io/secret-paths'].split(',')
const agentHcl = (exitAfterAuth) => `
vault { address = "${ann['cloudtaser.io/vault-address']}" }
exit_after_auth = ${exitAfterAuth}
auto_auth {
  method "kubernetes" {
    mount_path = "auth/${ann['cloudtaser.io/vault-auth-path'] ?? 'kubernetes'}"
    config = { role = "${ann['cloudtaser.io/vault-role']}" }
  }
}
template {
  destination = "/bao/secrets/password"
  contents = "{{ with secret \\"${kvPath}\\" }}{{ .Data.data.password }}{{ end }}"
}
`
await core.createNamespacedConfigMap({namespace: NS, body: {metadata: {name: 'bao-agent'}, data: {'init.hcl': agentHcl(true), 'agent.hcl': agentHcl(false)}}})
const agentTemplate = (() => {
  const t = withProbe(original)
  const redis = t.spec.containers[0]
  redis.env = []
  // The file, not the environment variable, is what the injector hands over; Redis's entrypoint
  // takes the password from REDIS_PASSWORD, so the shell moves it (never into argv).
  redis.command = ['sh', '-c', 'REDIS_PASSWORD="$(cat /bao/secrets/password)" && export REDIS_PASSWORD && exec /usr/local/bin/redis-entrypoint']
  redis.volumeMounts.push({name: 'bao-secrets', mountPath: '/bao/secrets', readOnly: true})
  const agent = (name, config, sidecar) => ({
    name,
    image: `cloudtaser.lab/${agentImage.ref}`,
    args: ['agent', `-config=/etc/bao/${config}`],
    ...(sidecar ? {restartPolicy: 'Always'} : {}),
    env: [{name: 'HOME', value: '/tmp'}],
    volumeMounts: [{name: 'bao-config', mountPath: '/etc/bao'}, {name: 'bao-secrets', mountPath: '/bao/secrets'}],
  })
  t.spec.initContainers = [agent('bao-agent-init', 'init.hcl', false), agent('bao-agent', 'agent.hcl', true)]
  t.spec.volumes.push({name: 'bao-config', configMap: {name: 'bao-agent'}}, {name: 'bao-secrets', emptyDir: {medium: 'Memory'}})
  return t
})()
const arms = {
  unprotected: withProbe(original),
  cloudtaser: withProbe(protectedTemplate),
  'bao-agent': agentTemplate,
}

// ---- timing
const podsOf = async (name) => (await core.listNamespacedPod({namespace: NS, labelSelector: `bench=${name}`})).items
async function startOnce(arm, name, {keep = false} = {}) {
  const template = structuredClone(arms[arm])
  template.metadata = {...template.metadata, labels: {...template.metadata.labels, app: name, bench: name}}
  const body = {metadata: {name, namespace: NS}, spec: {replicas: 1, selector: {matchLabels: {bench: name}}, template}}
  const t0 = performance.now()
  await apps.createNamespacedDeployment({namespace: NS, body})
  let ms
  for (const end = Date.now() + 180_000; ms === undefined; await sleep(50)) {
    if (Date.now() > end) throw new Error(`${arm}: ${name} not Ready after 180 s: ${kubectl(['-n', NS, 'describe', 'pods', '-l', `bench=${name}`], {allowFail: true}).stdout}`)
    const ready = (await podsOf(name)).find((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
    if (ready) ms = performance.now() - t0
  }
  const pod = (await podsOf(name))[0]
  if (!keep) await removeDeployment(name)
  return {ms, pod}
}
async function removeDeployment(name) {
  await apps.deleteNamespacedDeployment({name, namespace: NS, body: {propagationPolicy: 'Foreground', gracePeriodSeconds: 0}})
  for (const end = Date.now() + 120_000; ; await sleep(200)) {
    if ((await podsOf(name)).length === 0) return
    if (Date.now() > end) throw new Error(`${name}: Pods not gone after 120 s`)
  }
}

const times = Object.fromEntries(Object.keys(arms).map((a) => [a, []]))
for (const arm of Object.keys(arms)) {
  const w = await startOnce(arm, `warm-${arm}`)
  log(`warm-up ${arm}: ${w.ms.toFixed(0)} ms (image pull, not counted)`)
}
const order = Object.keys(arms)
for (let r = 0; r < RUNS; r++) {
  const rotated = [...order.slice(r % order.length), ...order.slice(0, r % order.length)]
  for (const arm of rotated) {
    const {ms} = await startOnce(arm, `run${r}-${arm}`)
    times[arm].push(ms)
    log(`run ${r} ${arm}: ${ms.toFixed(0)} ms`)
  }
}

// ---- memory: processes found on the host by their container's ID in /proc/<pid>/cgroup
function containerProcesses(containerId) {
  const id = containerId.replace(/^\w+:\/\//, '')
  const out = []
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let cgroup
    try {
      cgroup = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    } catch {
      continue
    }
    if (!cgroup.includes(id)) continue
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]
    out.push({pid: Number(pid), cmd, rssKiB, cgroupPath: cgroup.trim().split('\n').find((l) => l.startsWith('0::'))?.slice(3)})
  }
  return out
}
const memoryCurrent = (cgroupPath) => {
  try {
    return Number(readFileSync(`/sys/fs/cgroup${cgroupPath}/memory.current`, 'utf8'))
  } catch {
    return undefined
  }
}
// cgroup v2's memory.current; this machine kind has cgroup v1, where the figure is left out.
const cgroupMiB = (path) => {
  const bytes = path ? memoryCurrent(path) : undefined
  return bytes === undefined ? undefined : Number((bytes / 1048576).toFixed(1))
}
const mib = (kib) => Number((kib / 1024).toFixed(1))
const operatorPods = (await core.listNamespacedPod({namespace: 'cloudtaser-system', labelSelector: 'app.kubernetes.io/component=operator'})).items
const operator = operatorPods.map((p) => {
  const procs = (p.status?.containerStatuses ?? []).flatMap((c) => (c.containerID ? containerProcesses(c.containerID) : []))
  return {pod: p.metadata.name, processes: procs.map((x) => `${x.cmd} ${mib(x.rssKiB)} MiB`), rssMiB: mib(procs.reduce((a, x) => a + x.rssKiB, 0)), cgroupMemoryCurrentMiB: cgroupMiB(procs[0]?.cgroupPath)}
})
const wrapped = await startOnce('cloudtaser', 'mem-cloudtaser', {keep: true})
const agented = await startOnce('bao-agent', 'mem-bao-agent', {keep: true})
await sleep(3000) // past start-up: steady-state RSS
const wrapperProc = containerProcesses(wrapped.pod.status.containerStatuses.find((c) => c.name === 'redis').containerID).find((x) => x.cmd === '/cloudtaser/wrapper')
const sidecar = containerProcesses(agented.pod.status.initContainerStatuses.find((c) => c.name === 'bao-agent').containerID)
const redisAlone = containerProcesses(agented.pod.status.containerStatuses.find((c) => c.name === 'redis').containerID)

const ms = (x) => Number(x.toFixed(0))
const base = median(times.unprotected)
const result = {
  runsPerArm: RUNS,
  readinessProbePeriodSeconds: 1,
  podStartMs: Object.fromEntries(Object.entries(times).map(([a, xs]) => [a, {median: ms(median(xs)), min: ms(Math.min(...xs)), max: ms(Math.max(...xs)), runs: xs.map(ms)}])),
  ratioVsUnprotected: Object.fromEntries(Object.entries(times).map(([a, xs]) => [a, Number((median(xs) / base).toFixed(2))])),
  deltaVsUnprotectedMs: Object.fromEntries(Object.entries(times).map(([a, xs]) => [a, ms(median(xs) - base)])),
  operator,
  perPodMemoryMiB: {
    wrapperRss: wrapperProc ? mib(wrapperProc.rssKiB) : 'not found',
    baoAgentSidecarRss: mib(sidecar.reduce((a, x) => a + x.rssKiB, 0)),
    redisServerRss: mib(redisAlone.filter((x) => /redis-server/.test(x.cmd)).reduce((a, x) => a + x.rssKiB, 0)),
  },
}
result.perPodMemoryMiB.wrapperVsBaoAgentRatio = typeof result.perPodMemoryMiB.wrapperRss === 'number' ? Number((result.perPodMemoryMiB.wrapperRss / result.perPodMemoryMiB.baoAgentSidecarRss).toFixed(3)) : undefined
console.log(JSON.stringify(result, null, 2))
process.exit(0)
