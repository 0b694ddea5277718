#!/usr/bin/env node
// The main job: the whole plan workflow, as a newcomer would run it by hand, on the local lab
// (a real kube-apiserver + controller-manager and a real OpenBao on loopback):
//   lab up -> deploy a sample app that uses Kubernetes Secrets -> target connect ->
//   target discover -> source apply-plan -> values written with the bao CLI ->
//   source verify-plan -> target protect --yes --wait -> the final plan and workloads.
import {spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {KubeConfig, KubernetesObjectApi, AppsV1Api} from '@kubernetes/client-node'
import {loadAll} from 'js-yaml'

const root = new URL('..', import.meta.url).pathname
const work = mkdtempSync(join(tmpdir(), 'cloudtaser-demo-'))
const planFile = join(work, 'plan.yaml')
// The demo's lab lives in its own state dir, so it never touches a lab the user has running.
const env = {...process.env, CLOUDTASER_ACTOR: process.env.CLOUDTASER_ACTOR ?? 'demo@cloudtaser', CLOUDTASER_LAB_DIR: join(work, 'lab')}

const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s)
function step(title) {
  console.log(`\n${bold(`== ${title}`)}`)
}
function cli(args, {allowFail = false, quiet = false} = {}) {
  console.log(`$ cloudtaser ${args.join(' ')}`)
  const r = spawnSync(process.execPath, [join(root, 'bin/run.js'), ...args], {cwd: work, env, encoding: 'utf8'})
  if (!quiet) process.stdout.write(r.stdout)
  process.stderr.write(r.stderr)
  if (r.status !== 0 && !allowFail) {
    console.error(`command failed with exit code ${r.status}`)
    process.exit(r.status ?? 1)
  }
  return r
}

let labUp = false
const cleanup = () => {
  if (labUp) spawnSync(process.execPath, [join(root, 'bin/run.js'), 'lab', 'down'], {cwd: work, env, stdio: 'inherit'})
  rmSync(work, {recursive: true, force: true})
}
process.on('exit', cleanup)
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130))

step('1. Start the local lab (kube-apiserver, etcd, controller-manager, OpenBao on loopback)')
labUp = true
cli(['lab', 'up', '--no-node'])
const labEnv = JSON.parse(cli(['lab', 'env', '--json'], {quiet: true}).stdout)
Object.assign(env, {KUBECONFIG: labEnv.KUBECONFIG, BAO_ADDR: labEnv.BAO_ADDR, BAO_TOKEN: labEnv.BAO_TOKEN, PATH: `${labEnv.PATH_PREPEND}:${env.PATH}`})
console.log(`KUBECONFIG=${env.KUBECONFIG}\nBAO_ADDR=${env.BAO_ADDR}`)

step('2. Deploy a sample application that reads Kubernetes Secrets')
const kc = new KubeConfig()
kc.loadFromFile(env.KUBECONFIG)
const objects = loadAll(readFileSync(join(root, 'examples/demo/sample-app.yaml'), 'utf8')).filter(Boolean)
const canaries = objects.filter((o) => o.kind === 'Secret').flatMap((o) => Object.values(o.stringData ?? {})).filter((v) => v.startsWith('demo-canary'))
const objectApi = KubernetesObjectApi.makeApiClient(kc)
for (const o of objects) {
  await objectApi.create(o)
  console.log(`created ${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`)
}

step('3. Point OpenBao\'s Kubernetes auth at this cluster')
cli(['target', 'connect'])

step('4. Discover: which workloads read which Secrets (metadata only, never values)')
cli(['target', 'discover', '-o', planFile, '--cluster-name', 'lab', '--vault-address', env.BAO_ADDR])
console.log(readFileSync(planFile, 'utf8'))

step('5. (review the plan in a pull request; it is the only thing that crosses the air gap)')
cli(['plan', 'validate', planFile])

step('6. On the OpenBao side: policies and roles exactly as reviewed')
cli(['source', 'apply-plan', planFile])

step('7. Someone with the values writes them into OpenBao with the bao CLI')
const secretValues = Object.fromEntries(
  objects.filter((o) => o.kind === 'Secret').map((o) => [`${o.metadata.namespace}/${o.metadata.name}`, o.stringData]),
)
const bao = join(root, '.venv/bin/bao')
const {load} = await import('js-yaml')
const plan = load(readFileSync(planFile, 'utf8'))
const written = new Set()
for (const tenant of plan.tenants) {
  for (const w of tenant.workloads) {
    for (const s of w.secrets) {
      const values = secretValues[`${tenant.namespace}/${s.source.name}`]
      if (!values || written.has(s.vaultPath)) continue
      written.add(s.vaultPath)
      const path = s.vaultPath.replace('/data/', '/')
      console.log(`$ bao kv put ${path} - < values.json`)
      const r = spawnSync(bao, ['kv', 'put', path, '-'], {env, input: JSON.stringify(values), encoding: 'utf8'})
      if (r.status !== 0) {
        console.error(r.stderr)
        process.exit(1)
      }
    }
  }
}

step('8. Verify every secret the plan needs is in OpenBao')
cli(['source', 'verify-plan', planFile])

step('9. Protect: annotate and roll every workload, recording each status in the plan')
cli(['target', 'protect', '--plan', planFile, '--yes', '--wait'])

step('10. The final plan (the audit record)')
cli(['plan', 'show', planFile])

step('11. The protected workloads')
const apps = kc.makeApiClient(AppsV1Api)
for (const ns of ['shop', 'billing']) {
  for (const d of (await apps.listNamespacedDeployment({namespace: ns})).items) {
    const tpl = d.spec.template
    const secretRefs = [...(tpl.spec.initContainers ?? []), ...tpl.spec.containers].flatMap((c) => [
      ...(c.env ?? []).filter((e) => e.valueFrom?.secretKeyRef).map((e) => e.name),
      ...(c.envFrom ?? []).filter((e) => e.secretRef).map((e) => `envFrom:${e.secretRef.name}`),
    ])
    console.log(`Deployment ${ns}/${d.metadata.name}: generation ${d.metadata.generation}, Secret references left: ${secretRefs.length ? secretRefs.join(', ') : 'none'}`)
    for (const [k, v] of Object.entries(tpl.metadata.annotations ?? {})) if (k.startsWith('cloudtaser.io/')) console.log(`  ${k}: ${v}`)
  }
}

const planText = readFileSync(planFile, 'utf8')
const leaked = canaries.filter((c) => planText.includes(c))
console.log(`\nSecret values in the plan: ${leaked.length === 0 ? 'none' : `LEAKED ${leaked.length}`}`)
if (leaked.length) process.exit(1)
console.log(bold('\nDone. The lab is stopped and its state removed on exit.'))
