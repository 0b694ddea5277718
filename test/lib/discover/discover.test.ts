// target discover / fingerprint against a real kube-apiserver with a realistic fixture cluster.
import t from 'tap'
import {spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {AppsV1Api, CoreV1Api, KubernetesObjectApi, RbacAuthorizationV1Api, type KubernetesObject} from '@kubernetes/client-node'
import jsyaml from 'js-yaml'
import {startControlPlane} from '../../../lib/lab/index.js'
import {loadPlan, savePlan} from '../../../lib/plan/io.js'

const root = resolve(import.meta.dirname, '../../..')
const fixtureText = readFileSync(join(root, 'test/fixtures/discover/cluster.yaml'), 'utf8')
const goldenFile = join(root, 'test/fixtures/discover/golden-plan.yaml')
const canaries = [...fixtureText.matchAll(/canary-discover-[\w-]+/g)].map((m) => m[0])

const cp = await startControlPlane()
t.teardown(() => cp.stop())
const kc = cp.kubeConfig
const objects = jsyaml.loadAll(fixtureText) as KubernetesObject[]
const api = KubernetesObjectApi.makeApiClient(kc)
for (const o of objects) await api.create(o)
const work = mkdtempSync(join(tmpdir(), 'cloudtaser-discover-'))
t.teardown(() => rmSync(work, {recursive: true, force: true}))
const fingerprint = (await kc.makeApiClient(CoreV1Api).readNamespace({name: 'kube-system'})).metadata!.uid!

// Run outside any Git checkout so the plan carries no commit that changes with every commit.
const cli = (args: string[], kubeconfig = cp.kubeconfigPath) =>
  spawnSync(process.execPath, [join(root, 'bin/run.js'), ...args], {cwd: work, env: {...process.env, KUBECONFIG: kubeconfig, CLOUDTASER_ACTOR: 'reviewer@ci'}, encoding: 'utf8'})

// The golden plan's counts, as the summary line states them.
const SUMMARY = '14 workload\\(s\\) in 4 namespace\\(s\\) read 9 Secret\\(s\\)'

const normalize = (text: string): string =>
  text.replaceAll(fingerprint, 'FINGERPRINT').replace(/createdAt: \S+/, 'createdAt: CREATED').replace(/server: \S+/, 'server: SERVER')

t.test('discover writes the reviewed golden plan, with no Secret value anywhere', async (t) => {
  const file = join(work, 'plan.yaml')
  const r = cli(['target', 'discover', '-o', file, '--cluster-name', 'lab', '--vault-address', 'https://openbao.example.eu:8200'])
  t.equal(r.status, 0, r.stderr)
  const text = readFileSync(file, 'utf8')
  if (process.env.UPDATE_GOLDEN) writeFileSync(goldenFile, normalize(text))
  t.equal(normalize(text), readFileSync(goldenFile, 'utf8'), 'matches test/fixtures/discover/golden-plan.yaml')
  t.equal(cli(['plan', 'validate', file]).status, 0, 'the plan validates')
  for (const c of canaries) t.notOk(text.includes(c) || r.stdout.includes(c) || r.stderr.includes(c), `no trace of ${c}`)
  t.match(r.stdout, new RegExp(`^Cluster lab \\(fingerprint ${fingerprint}\\)\n${SUMMARY}; plan written to ${file.replaceAll('.', '\\.')}\n`), 'the summary counts the golden plan\'s workloads, namespaces and Secrets')
  t.match(r.stdout, /Secret shop\/feature-flags is referenced but does not exist/)
  t.match(r.stdout, /imagePullSecrets reference\(s\) left alone/)
  t.match(r.stdout, /already injected/)

  const again = join(work, 'again.yaml')
  t.equal(cli(['target', 'discover', '-o', again, '--cluster-name', 'lab', '--vault-address', 'https://openbao.example.eu:8200']).status, 0)
  const diff = readFileSync(again, 'utf8').split('\n').filter((l, i) => l !== text.split('\n')[i])
  t.ok(diff.every((l) => l.includes('createdAt:')), 'a second run differs at most in createdAt')
})

t.test('--update adds new workloads, marks vanished ones, keeps statuses and comments', async (t) => {
  const file = join(work, 'update.yaml')
  t.equal(cli(['target', 'discover', '-o', file, '--cluster-name', 'lab']).status, 0)
  let loaded = await loadPlan(file)
  const next = structuredClone(loaded.plan)
  next.tenants.find((x) => x.namespace === 'shop')!.workloads.find((w) => w.name === 'checkout')!.status = {state: 'migrated', at: '2026-11-22T10:00:00Z', by: 'alice@laptop'}
  loaded = await savePlan(loaded, next)
  writeFileSync(file, readFileSync(file, 'utf8').replace('tenants:\n', 'tenants:\n  # security review: approved SEC-7\n'))

  const apps = kc.makeApiClient(AppsV1Api)
  await apps.deleteNamespacedDeployment({name: 'static', namespace: 'shop'}).catch(() => undefined)
  await apps.deleteNamespacedDeployment({name: 'sso-proxy', namespace: 'identity'})
  await apps.createNamespacedDeployment({namespace: 'shop', body: {metadata: {name: 'newcomer'}, spec: {selector: {matchLabels: {app: 'n'}}, template: {metadata: {labels: {app: 'n'}}, spec: {containers: [{name: 'n', image: 'n', env: [{name: 'P', valueFrom: {secretKeyRef: {name: 'db', key: 'password'}}}]}]}}}}})

  const r = cli(['target', 'discover', '--update', file])
  t.equal(r.status, 0, r.stderr)
  t.match(r.stdout, /update: 1 added, 1 vanished/)
  const text = readFileSync(file, 'utf8')
  t.match(text, /# security review: approved SEC-7/, 'reviewers\' comment kept')
  const plan = (await loadPlan(file)).plan
  const shop = plan.tenants.find((x) => x.namespace === 'shop')!
  t.match(shop.workloads.find((w) => w.name === 'checkout')!.status, {state: 'migrated', by: 'alice@laptop'}, 'status kept')
  t.ok(shop.workloads.find((w) => w.name === 'newcomer'), 'new workload added')
  t.equal(plan.tenants.find((x) => x.namespace === 'identity')!.workloads.find((w) => w.name === 'sso-proxy')!.vanished, true, 'vanished workload marked, not dropped')
  t.ok(plan.metadata.updatedAt)
})

async function kubeconfigFor(sa: string, namespace: string): Promise<string> {
  const core = kc.makeApiClient(CoreV1Api)
  const token = await core.createNamespacedServiceAccountToken({name: sa, namespace, body: {spec: {audiences: [], expirationSeconds: 3600}}})
  const file = join(work, `${sa}.kubeconfig`)
  writeFileSync(file, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'sa',
    clusters: [{name: 'lab', cluster: {server: cp.server, 'certificate-authority': cp.caPath}}],
    users: [{name: sa, user: {token: token.status!.token}}],
    contexts: [{name: 'sa', context: {cluster: 'lab', user: sa}}],
  }))
  return file
}

t.test('runs under a Role that cannot get Secrets; RBAC denials name verb and resource', async (t) => {
  const core = kc.makeApiClient(CoreV1Api)
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api)
  await core.createNamespace({body: {metadata: {name: 'auditors'}}})
  for (const sa of ['discoverer', 'nobody']) await core.createNamespacedServiceAccount({namespace: 'auditors', body: {metadata: {name: sa}}})
  await rbac.createClusterRole({body: {metadata: {name: 'cloudtaser-discover'}, rules: [
    {apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list']},
    {apiGroups: [''], resources: ['pods', 'secrets'], verbs: ['list']},
    {apiGroups: ['apps'], resources: ['deployments', 'statefulsets', 'daemonsets'], verbs: ['list']},
    {apiGroups: ['batch'], resources: ['cronjobs', 'jobs'], verbs: ['list']},
  ]}})
  await rbac.createClusterRoleBinding({body: {metadata: {name: 'cloudtaser-discover'}, roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cloudtaser-discover'}, subjects: [{kind: 'ServiceAccount', name: 'discoverer', namespace: 'auditors'}]}})
  const ok = cli(['target', 'discover', '--cluster-name', 'lab', '--json'], await kubeconfigFor('discoverer', 'auditors'))
  t.equal(ok.status, 0, ok.stdout + ok.stderr)
  t.ok(JSON.parse(ok.stdout).workloads >= 13, "the workloads were discovered")

  const denied = cli(['target', 'discover', '--json'], await kubeconfigFor('nobody', 'auditors'))
  t.equal(denied.status, 4)
  t.match(JSON.parse(denied.stdout), {error: {code: 'KUBE_FORBIDDEN', message: /missing permission to get namespaces/}})
})

t.test('clear errors: unknown namespace, unreachable cluster, expired credentials, unknown context; fingerprint', async (t) => {
  const unknown = cli(['target', 'discover', '-n', 'does-not-exist', '--json'])
  t.equal(unknown.status, 2)
  t.match(JSON.parse(unknown.stdout), {error: {code: 'KUBE_NAMESPACE_UNKNOWN'}})

  const dead = join(work, 'dead.kubeconfig')
  writeFileSync(dead, readFileSync(cp.kubeconfigPath, 'utf8').replace(/server: https:\/\/127\.0\.0\.1:\d+/, 'server: https://127.0.0.1:1'))
  const unreachable = cli(['target', 'discover', '--json'], dead)
  t.equal(unreachable.status, 5)
  t.match(JSON.parse(unreachable.stdout), {error: {code: 'KUBE_UNREACHABLE'}})

  const expired = join(work, 'expired.kubeconfig')
  writeFileSync(expired, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'x',
    clusters: [{name: 'lab', cluster: {server: cp.server, 'certificate-authority': cp.caPath}}],
    users: [{name: 'old', user: {token: 'eyJhbGciOiJSUzI1NiJ9.e30.expired'}}],
    contexts: [{name: 'x', context: {cluster: 'lab', user: 'old'}}],
  }))
  const refused = cli(['target', 'discover', '--json'], expired)
  t.equal(refused.status, 4)
  t.match(JSON.parse(refused.stdout), {error: {code: 'KUBE_UNAUTHORIZED', message: /invalid or expired/}})

  const noContext = cli(['target', 'fingerprint', '--context', 'nope', '--json'])
  t.equal(noContext.status, 3)
  t.match(JSON.parse(noContext.stdout), {error: {code: 'KUBE_CONTEXT_UNKNOWN'}})

  const fp = cli(['target', 'fingerprint', '--json'])
  t.equal(fp.status, 0)
  t.match(JSON.parse(fp.stdout), {clusterId: fingerprint, next: `cloudtaser source register --fingerprint ${fingerprint}`})
  t.match(cli(['target', 'fingerprint']).stdout, `Cluster ID: ${fingerprint}`)
})

t.test('one path: the command lines users type give the same output, with or without --context and --kubeconfig', async (t) => {
  const withoutDates = (stdout: string): string => normalize(stdout).replace(/"createdAt": "[^"]+"/, '"createdAt": CREATED')
  const dead = join(work, 'dead-spellings.kubeconfig')
  writeFileSync(dead, readFileSync(cp.kubeconfigPath, 'utf8').replace(/server: https:\/\/127\.0\.0\.1:\d+/, 'server: https://127.0.0.1:1'))
  const context = (jsyaml.load(readFileSync(cp.kubeconfigPath, 'utf8')) as {'current-context': string})['current-context']
  const plan = (name: string): string => join(work, name)
  // Each group: spellings of one request, which must print the same bytes and exit alike.
  const groups: Array<[string, string[][], string?]> = [
    ['plan printed', [['target', 'discover', '--cluster-name', 'lab'], ['target:discover', '--cluster-name=lab', '--context', context], ['target', 'discover', '--cluster-name', 'lab', '--kubeconfig', cp.kubeconfigPath]]],
    ['--json', [['target', 'discover', '--json', '--path-template', '{mount}/data/eu/{namespace}/{secret}'], ['target', 'discover', '--path-template={mount}/data/eu/{namespace}/{secret}', '--json', '--context', context]]],
    ['unreachable cluster', [['target', 'discover', '--cluster-name', 'lab'], ['target:discover', '--cluster-name', 'lab', '--kubeconfig', dead]], dead],
    ['unreachable cluster, --json', [['target:discover', '--json'], ['target', 'discover', '--json', '--context', context]], dead],
  ]
  for (const [name, spellings, kubeconfig] of groups) {
    const [first, ...rest] = spellings.map((args) => ({args, r: cli(args, kubeconfig)}))
    for (const {args, r} of rest) {
      t.equal(r.status, first!.r.status, `${name}: exit code ${first!.r.status} (${args.join(' ')})`)
      t.equal(withoutDates(r.stdout), withoutDates(first!.r.stdout), `${name}: same stdout`)
      t.equal(r.stderr, first!.r.stderr, `${name}: same stderr`)
    }
  }
  // Writing the plan: -o, --output= and --output-plan write the same file and print the same summary.
  const written = [['-o', plan('a.yaml')], [`--output=${plan('b.yaml')}`], ['--output-plan', plan('c.yaml'), '--context', context]].map((flags) => cli(['target', 'discover', '--cluster-name', 'lab', ...flags]))
  for (const r of written) t.equal(r.status, 0, r.stderr)
  const files = ['a.yaml', 'b.yaml', 'c.yaml'].map((f) => normalize(readFileSync(plan(f), 'utf8')))
  t.equal(files[1], files[0], '--output= writes what -o writes')
  t.equal(files[2], files[0], '--output-plan with --context writes what -o writes')
  t.equal(written[2]!.stdout.replace('c.yaml', 'a.yaml'), written[0]!.stdout, 'the same summary')
  t.match(written[0]!.stdout, new RegExp(SUMMARY))
  const printed = cli(['target', 'discover', '--cluster-name', 'lab', '--context', context])
  t.equal(normalize(printed.stdout), files[0], 'the printed plan is the written plan')
})
