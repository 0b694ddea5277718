#!/usr/bin/env node
// The main job: the whole plan workflow, as a newcomer would run it by hand, on the local lab's
// node, ending with a protected app running:
//   lab up (control plane, OpenBao, a node) -> images -> target install (Helm) -> Debian's Redis and its
//   client reading a Kubernetes Secret -> target connect -> discover -> review -> apply-plan ->
//   target migrate (the values into OpenBao) -> verify-plan -> protect --wait -> the Secret deleted -> a rotation in
//   OpenBao reaches both apps -> leak hunt over etcd, the node's disk, every log and file.
// `--mode beacon`: OpenBao in a network of its own that the cluster cannot reach, with the bridge
// beside it and the beacon between (docs/bridge.md, "The main job in beacon mode").
import {spawnSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {appendFileSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {load, loadAll} from 'js-yaml'
import {huntCanaries, RECORD_DIR, startBeaconSide} from '../dist/lib/lab/index.js'

const modeAt = process.argv.indexOf('--mode')
const mode = modeAt > 0 ? process.argv[modeAt + 1] : 'direct'
if (mode !== 'direct' && mode !== 'beacon') {
  console.error(`--mode ${mode}: expected direct or beacon`)
  process.exit(2)
}
const beacon = mode === 'beacon'
const BROKER_URL = 'https://cloudtaser-broker.cloudtaser-system.svc:8200'
const JWT_MOUNT = 'k8s-beacon'

const root = new URL('..', import.meta.url).pathname
const work = mkdtempSync(join(tmpdir(), 'cloudtaser-demo-'))
const planFile = join(work, 'plan.yaml')
const transcript = join(work, 'demo.log')
// The demo's lab lives in its own state dir, so it never touches a lab the user has running.
const env = {...process.env, CLOUDTASER_ACTOR: process.env.CLOUDTASER_ACTOR ?? 'demo@cloudtaser', CLOUDTASER_LAB_DIR: join(work, 'lab')}

const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s)
/** Everything printed also goes to the transcript, which the leak hunt searches too. */
const say = (text) => {
  process.stdout.write(text)
  appendFileSync(transcript, text)
}
const step = (title) => say(`\n${bold(`== ${title}`)}\n`)
const t0 = Date.now()
const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`

function run(cmd, args, {allowFail = false, quiet = false, input} = {}) {
  const r = spawnSync(cmd, args, {cwd: work, env, encoding: 'utf8', input})
  if (!quiet) say(r.stdout)
  if (r.stderr && (!quiet || (r.status !== 0 && !allowFail))) say(r.stderr)
  if (r.status !== 0 && !allowFail) {
    console.error(`${cmd} ${args.join(' ')}: exit code ${r.status}`)
    process.exit(r.status ?? 1)
  }
  return r
}
function cli(args, opts = {}) {
  say(`$ cloudtaser ${args.join(' ')}\n`)
  return run(process.execPath, [join(root, 'bin/run.js'), ...args], opts)
}
function kubectl(args, opts = {}) {
  if (!opts.quiet) say(`$ kubectl ${args.join(' ')}\n`)
  return run(join(env.CLOUDTASER_LAB_DIR, 'bin/kubectl'), args, opts)
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
async function until(what, check, timeoutMs = 120_000) {
  const end = Date.now() + timeoutMs
  for (;;) {
    if (check()) return
    if (Date.now() > end) {
      console.error(`timed out waiting for ${what}`)
      process.exit(1)
    }
    await sleep(1000)
  }
}

let labUp = false
let side
const cleanup = () => {
  // An exit handler cannot wait: the OpenBao side's processes are killed, its namespace removed.
  side?.killNow()
  if (labUp) spawnSync(process.execPath, [join(root, 'bin/run.js'), 'lab', 'down'], {cwd: work, env, stdio: 'inherit'})
  rmSync(work, {recursive: true, force: true})
}
process.on('exit', cleanup)
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130))

step('1. Start the local lab: kube-apiserver, etcd, controller-manager, scheduler, OpenBao, and one node')
labUp = true
cli(['lab', 'up'])
const labEnv = JSON.parse(cli(['lab', 'env', '--json'], {quiet: true}).stdout)
Object.assign(env, {KUBECONFIG: labEnv.KUBECONFIG, BAO_ADDR: labEnv.BAO_ADDR, BAO_TOKEN: labEnv.BAO_TOKEN, PATH: `${labEnv.PATH_PREPEND}:${env.PATH}`})
say(`KUBECONFIG=${env.KUBECONFIG}\nBAO_ADDR=${env.BAO_ADDR}\n`)

step('2. Build the images here (no Docker) and push them to the lab registry')
const images = JSON.parse(cli(['lab', 'images', '--json'], {quiet: true}).stdout).images
for (const i of images) say(`  ${i.ref.padEnd(24)} ${i.digest.slice(0, 19)}  ${(i.size / 1e6).toFixed(2)} MB\n`)
const registry = labEnv.CLOUDTASER_LAB_REGISTRY

// Lab values: image look-ups through the lab's registry mirror; the lab host's bpffs is a
// private mount, so the agent's hostPath cannot propagate mounts.
const labValues = ['--set', `operator.registryMirrors[0]=cloudtaser.lab=http://${registry}`, '--set', 'ebpf.bpffsMountPropagation=None']
let fingerprint
if (!beacon) {
  step('3. Point OpenBao\'s Kubernetes auth at this cluster, and give the operator its own policy and role')
  cli(['target', 'connect'])
  cli(['source', 'configure'])

  step('4. Install cloudtaser with its Helm chart: two operator replicas (webhook material in OpenBao, no Kubernetes Secret) and the eBPF agent on every node')
  cli(['target', 'install', '--vault-address', env.BAO_ADDR, ...labValues, '--wait', '--timeout', '3m'])
} else {
  step('3. The OpenBao side: OpenBao in a network the cluster cannot reach, the beacon between; register the cluster and start the bridge')
  side = await startBeaconSide()
  // From here on the bao CLI and the source commands talk to the OpenBao side's server.
  Object.assign(env, {BAO_ADDR: side.openbao.addr, BAO_TOKEN: side.openbao.token})
  say(`OpenBao side: ${side.openbao.addr} in network namespace ${side.netns}; beacon on the host, port ${side.beaconPort}\n`)
  fingerprint = JSON.parse(kubectl(['get', 'namespace', 'kube-system', '-o', 'json'], {quiet: true}).stdout).metadata.uid
  const reg = JSON.parse(cli(['source', 'register', '--fingerprint', fingerprint, '--json'], {quiet: true}).stdout)
  say(`registered; operationalInfoHash (the CA pin, public): ${reg.infoHashes.operational}\n`)
  await side.startBridge()

  step('4. Install cloudtaser in beacon mode: the broker bootstraps its certificate through the beacon; the operator logs in to OpenBao through it')
  const hostIp = new URL(labEnv.BAO_ADDR).hostname
  // No --wait: the operator keeps its webhook material in OpenBao and is Ready once the jwt auth
  // method exists, which is made from the keys the broker's first tunnel brings to the bridge.
  cli(['target', 'install', '--mode', 'beacon', '--beacon', `${hostIp}:${side.beaconPort}`, '--beacon-plain', '--ca-sha256', reg.infoHashes.operational, '--auth-mount', JWT_MOUNT, ...labValues])
  await until('the broker\'s tunnel', () => /"event":"tunnel_up"/.test(kubectl(['-n', 'cloudtaser-system', 'logs', 'deployment/cloudtaser-broker'], {quiet: true, allowFail: true}).stdout), 120_000)
  say('broker: tunnel up through the beacon\n')
  await until('the bridge to record the cluster\'s public keys', () => side.logs.bridge.join('').includes('"event":"jwks_recorded"'), 60_000)
  say('On the OpenBao side: a jwt auth method with the public keys the bridge recorded (OpenBao cannot reach the apiserver), and the operator\'s own policy and role\n')
  cli(['source', 'configure', '--jwt-from-registration', fingerprint, '--auth-mount', JWT_MOUNT])
  kubectl(['-n', 'cloudtaser-system', 'rollout', 'status', 'deployment/cloudtaser-operator', '--timeout=300s'])
}
cli(['target', 'status'], {allowFail: true})
// Exit 1: this kernel lists bpf among its LSMs but refuses the programs, so the node is degraded.
cli(['target', 'check'], {allowFail: true})
const own = JSON.parse(kubectl(['get', 'secrets', '-A', '-o', 'json'], {quiet: true}).stdout).items.filter((x) => /cloudtaser/.test(`${x.metadata.namespace}/${x.metadata.name}`))
say(`Kubernetes Secrets of cloudtaser's own: ${own.length === 0 ? 'none' : own.map((x) => x.metadata.name).join(', ')}\n`)

step('5. Deploy Debian\'s Redis and its client, configured from a Kubernetes Secret (as any cluster has them)')
const manifest = join(root, 'examples/demo/redis.yaml')
const objects = loadAll(readFileSync(manifest, 'utf8')).filter(Boolean)
const original = objects.find((o) => o.kind === 'Secret').stringData.password
kubectl(['apply', '-f', manifest])
kubectl(['-n', 'redis-demo', 'rollout', 'status', 'deployment/redis', 'deployment/redis-client', '--timeout=120s'])
kubectl(['-n', 'redis-demo', 'logs', 'deployment/redis-client', '--tail=1'])

step('6. Discover: which workloads read which Secrets (metadata only, never values)')
cli(['target', 'discover', '-o', planFile, '--cluster-name', 'lab', ...(beacon ? ['--vault-address', BROKER_URL, '--auth-mount', JWT_MOUNT] : ['--vault-address', env.BAO_ADDR])])
say(readFileSync(planFile, 'utf8'))

step('7. (review the plan in a pull request; it is the only thing that crosses the air gap)')
cli(['plan', 'validate', planFile])

step('8. On the OpenBao side: policies and roles exactly as reviewed')
// Beacon mode: also a role for the cluster-side copy, limited to the plan's paths (docs/migrate.md).
cli(['source', 'apply-plan', planFile, ...(beacon ? ['--allow-cluster-migrate'] : [])])

step(`9. Copy the values from the Kubernetes Secrets into OpenBao (in memory only, proven by digest, recorded in the plan)${beacon ? ': from the cluster side, through the broker' : ''}`)
cli(['target', 'migrate', '--plan', planFile, ...(beacon ? ['--via-broker'] : [])])
const plan = load(readFileSync(planFile, 'utf8'))
const bao = join(env.CLOUDTASER_LAB_DIR, 'bin/bao')
// The KV paths the plan maps, as the bao CLI names them (the rotation below writes one).
const paths = new Set(plan.tenants.flatMap((tenant) => tenant.workloads.flatMap((w) => w.secrets.map((s) => s.vaultPath.replace('/data/', '/')))))

step('10. Verify every secret the plan needs is in OpenBao')
cli(['source', 'verify-plan', planFile])

step('11. Protect: annotate and roll every workload; --wait means every new Pod is running and Ready')
cli(['target', 'protect', '--plan', planFile, '--yes', '--wait'])
cli(['plan', 'show', planFile])

step('12. The protected app: PID 1 of each container is the wrapper; the client authenticates')
// The old Pods may still be shutting down; `kubectl logs deployment/...` could pick one of them.
await until('the unprotected Pods to be gone', () => !JSON.parse(kubectl(['-n', 'redis-demo', 'get', 'pods', '-o', 'json'], {quiet: true}).stdout).items.some((p) => p.metadata.deletionTimestamp), 60_000)
for (const d of ['redis', 'redis-client']) {
  const pid1 = kubectl(['-n', 'redis-demo', 'exec', `deployment/${d}`, '--', 'cat', '/proc/1/cmdline'], {quiet: true}).stdout.replaceAll('\0', ' ').trim()
  say(`deployment/${d}: PID 1 is ${pid1}\n`)
}
kubectl(['-n', 'redis-demo', 'get', 'pods', '-o', 'wide'])
kubectl(['-n', 'redis-demo', 'logs', 'deployment/redis-client', '-c', 'redis-cli', '--tail=1'])
const ebpfLine = kubectl(['-n', 'redis-demo', 'logs', 'deployment/redis', '-c', 'redis'], {quiet: true}).stdout.split('\n').find((l) => /"event":"ebpf/.test(l))
say(`the wrapper and the kernel (kernelProtection: preferred, so fail-open here): ${ebpfLine}\n`)
const refs = kubectl(['-n', 'redis-demo', 'get', 'deployments', '-o', 'json'], {quiet: true})
const leftover = JSON.parse(refs.stdout).items.flatMap((d) => d.spec.template.spec.containers.flatMap((c) => (c.env ?? []).filter((e) => e.valueFrom?.secretKeyRef)))
say(`Secret references left in the Deployments: ${leftover.length === 0 ? 'none' : leftover.map((e) => e.name).join(', ')}\n`)

step('13. The cutover: the Kubernetes Secret is no longer needed; delete it')
kubectl(['-n', 'redis-demo', 'delete', 'secret', 'redis-auth'])

step('14. Rotate the password in OpenBao: both wrappers see the new version and restart their app with it')
// A value Kubernetes never held: the leak hunt below looks for it everywhere.
const rotated = `demo-canary-rotated-${randomBytes(6).toString('hex')}`
const rotatedAt = Date.now()
const [kvPath] = [...paths.keys()]
say(`$ bao kv put ${kvPath} password=- (new value on stdin)\n`)
run(bao, ['kv', 'put', kvPath, 'password=-'], {input: rotated, quiet: true})
const changed = (d, c) => /"event":"secret_changed"/.test(kubectl(['-n', 'redis-demo', 'logs', `deployment/${d}`, '-c', c], {quiet: true, allowFail: true}).stdout)
await until('both wrappers to see the change', () => changed('redis', 'redis') && changed('redis-client', 'redis-cli'), 120_000)
kubectl(['-n', 'redis-demo', 'rollout', 'status', 'deployment/redis-client', '--timeout=60s'])
await until('the client to authenticate with the rotated password', () => {
  const ready = kubectl(['-n', 'redis-demo', 'get', 'deployment/redis-client', '-o', 'jsonpath={.status.readyReplicas}'], {quiet: true}).stdout
  const tail = kubectl(['-n', 'redis-demo', 'logs', 'deployment/redis-client', '-c', 'redis-cli', '--tail=1'], {quiet: true}).stdout
  return ready === '1' && /^authenticated: /.test(tail)
}, 60_000)
say(`rotation reached both apps ${((Date.now() - rotatedAt) / 1000).toFixed(1)} s after the write (the wrappers poll every 30 s)\n`)
for (const [d, c] of [['redis', 'redis'], ['redis-client', 'redis-cli']]) {
  const lines = kubectl(['-n', 'redis-demo', 'logs', `deployment/${d}`, '-c', c], {quiet: true}).stdout.split('\n')
  for (const l of lines.filter((x) => /"event":"(secret_changed|leftovers_stopped|child_notified)"/.test(x))) say(`  ${d}: ${l}\n`)
}
kubectl(['-n', 'redis-demo', 'logs', 'deployment/redis-client', '-c', 'redis-cli', '--tail=1'])

step('15. Leak hunt: etcd\'s files, the node\'s disk (containerd, kubelet, Pod logs), every log and file this run wrote')
const roots = [work, RECORD_DIR]
const hunt = await huntCanaries(roots, [rotated, original])
const found = (c) => hunt.hits.filter((h) => h.canary === c)
say(`searched ${hunt.files} files, ${(hunt.bytes / 1e6).toFixed(1)} MB under ${roots.join(', ')}; memory-backed Pod volumes (node RAM, not disk) not searched: ${hunt.inMemory.length}\n`)
const etcdHits = found(original).filter((h) => h.path.includes('/etcd/'))
// The control: the value that was in the Kubernetes Secret is still in etcd's history (until
// compaction), which proves the hunt reads etcd; it is why a migration ends with a rotation.
say(`before-migration password (was in the Kubernetes Secret): in ${found(original).length} place(s), ${etcdHits.length} of them etcd files; etcd keeps history until compaction, and containerd's metadata on the node keeps the env of the unprotected containers: the reason to rotate after a migration\n`)
for (const h of found(original)) say(`  ${h.path.replace(work, '$DEMO')} (${h.encoding})\n`)
say(`rotated password (only ever in OpenBao): ${found(rotated).length === 0 ? 'found nowhere' : `FOUND in ${found(rotated).map((h) => `${h.path} (${h.encoding})`).join(', ')}`}\n`)
const relayLogs = side ? [...side.logs.beacon, ...side.logs.bridge].join('') : ''
if (side) say(`beacon and bridge logs: ${[rotated, original].some((c) => relayLogs.includes(c)) ? 'a password FOUND' : 'no password'}\n`)
if (side && [rotated, original].some((c) => relayLogs.includes(c))) process.exit(1)
if (etcdHits.length === 0) {
  console.error('the hunt did not find the old Secret in etcd: it is not reading what it claims to')
  process.exit(1)
}
if (found(rotated).length > 0) process.exit(1)

say(bold(`\nDone in ${elapsed()}: Redis and its client run under the wrapper with their password from OpenBao${beacon ? ', reached only through the broker, the beacon and the bridge' : ''}. The lab is stopped and its state removed on exit.\n`))
process.exit(0)
