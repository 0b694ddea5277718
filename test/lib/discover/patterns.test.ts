// The plan path on patterns common in public manifests (test/fixtures/discover/patterns.yaml),
// against a real kube-apiserver: discover's plan, the bytes discover received, protect's patch, the
// webhook's answer for the protected Pod, and unprotect.
import t from 'tap'
import {execFile} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {createServer, request} from 'node:https'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {promisify} from 'node:util'
import {AppsV1Api, type V1Deployment, type V1Pod} from '@kubernetes/client-node'
import {Annotations} from '../../../lib/annotations.js'
import {ensureBinary, startControlPlane} from '../../../lib/lab/index.js'
import {writeKubeconfig} from '../../../lib/lab/kubeconfig.js'
import {loadPlan} from '../../../lib/plan/io.js'
import type {Workload} from '../../../lib/plan/types.generated.js'
import {applyPatch, mutatePod, WRAPPER_PATH} from '../../../runtime/operator/mutation.js'

const root = resolve(import.meta.dirname, '../../..')
const fixture = join(root, 'test/fixtures/discover/patterns.yaml')
const canaries = [...readFileSync(fixture, 'utf8').matchAll(/canary-pattern-[\w-]+/g)].map((m) => m[0])

const cp = await startControlPlane()
t.teardown(() => cp.stop())
const work = mkdtempSync(join(tmpdir(), 'cloudtaser-patterns-'))
t.teardown(() => rmSync(work, {recursive: true, force: true}))
const kubectl = async (...args: string[]): Promise<string> => (await promisify(execFile)(await ensureBinary(), ['kubectl', `--kubeconfig=${cp.kubeconfigPath}`, ...args])).stdout
// Client-side apply, as most people and many CD tools still do it.
await kubectl('apply', '-f', fixture)

// A TLS-terminating recorder between discover and the apiserver: every byte discover received.
const pki = join(cp.dir, 'pki')
const received: Buffer[] = []
const recorder = createServer({cert: readFileSync(join(pki, 'server.crt')), key: readFileSync(join(pki, 'server.key'))}, (req, res) => {
  const headers = {...req.headers}
  delete headers['accept-encoding'] // plain bytes, so a value could not hide in gzip
  const up = request(`${cp.server}${req.url}`, {method: req.method, headers, ca: cp.caPem, cert: readFileSync(join(pki, 'admin.crt')), key: readFileSync(join(pki, 'admin.key'))}, (upRes) => {
    res.writeHead(upRes.statusCode ?? 502, upRes.headers)
    upRes.on('data', (c: Buffer) => received.push(c))
    upRes.pipe(res)
  })
  req.pipe(up)
})
await new Promise<void>((r) => recorder.listen(0, '127.0.0.1', r))
t.teardown(() => recorder.close())
const recorded = join(work, 'recorded.kubeconfig')
writeKubeconfig(recorded, `https://127.0.0.1:${(recorder.address() as {port: number}).port}`, pki)

// Asynchronous: the recorder runs in this process and must keep serving while the CLI runs.
const cli = (args: string[], kubeconfig = cp.kubeconfigPath): Promise<{status: number; stdout: string; stderr: string}> =>
  new Promise((done) => {
    execFile(process.execPath, [join(root, 'bin/run.js'), ...args], {cwd: work, env: {...process.env, KUBECONFIG: kubeconfig, CLOUDTASER_ACTOR: 'reviewer@ci'}, encoding: 'utf8'}, (err, stdout, stderr) =>
      done({status: err ? Number((err as {code?: number}).code ?? 1) : 0, stdout, stderr}),
    )
  })

const planFile = join(work, 'plan.yaml')
const r = await cli(['target', 'discover', '-o', planFile, '--cluster-name', 'lab', '--vault-address', 'https://openbao.example.eu:8200'], recorded)
if (r.status !== 0) throw new Error(`discover failed (${r.status}): ${r.stderr}${r.stdout}`)
const plan = (await loadPlan(planFile)).plan
const workloads = new Map<string, Workload>(plan.tenants.find((x) => x.namespace === 'patterns')!.workloads.map((w) => [w.name, w]))
const secret = (w: string, s: string) => workloads.get(w)!.secrets.find((m) => m.source.name === s)!

t.test('discover: a plan, exit 0, on names Kubernetes 1.34 accepts', async (t) => {
  t.equal(r.status, 0, r.stderr)
  t.equal((await cli(['plan', 'validate', planFile])).status, 0)
  t.same(secret('relaxed-names', 'db').fields, {password: '1PASSWORD', username: 'db password:'})
  const comma = secret('relaxed-names', 'api').references!.find((x) => x.env === 'API,TOKEN')!
  t.match(comma.remains, /contains "," or ";"/, 'a name the env-map cannot carry stays on the Secret, and the plan says why')
  t.notOk(secret('relaxed-names', 'api').fields, 'and is not mapped')
})

t.test('what a plan cannot express is a user-facing error naming the workload, not an internal one', async (t) => {
  const bad = await cli(['target', 'discover', '-n', 'patterns', '--path-template', '{mount}/data/with space/{secret}', '--json'])
  t.equal(bad.status, 3, bad.stderr)
  t.match(JSON.parse(bad.stdout), {error: {exitCode: 3, code: 'DISCOVER_UNREPRESENTABLE', message: /Deployment patterns\/\S+ \(\/secrets\/0\/vaultPath\)/, hint: /--path-template/}})
})

t.test('discover received no Secret value, though every Secret carries its values in an annotation', async (t) => {
  const stored = await kubectl('get', 'secret', 'db', '-n', 'patterns', '-o', 'json')
  t.ok(stored.includes('last-applied-configuration') && stored.includes('canary-pattern-password-91c2'), 'the trap is set: values in last-applied-configuration')
  const bytes = Buffer.concat(received).toString('utf8')
  t.ok(bytes.includes('"two-names"'), 'the recorder saw discover\'s traffic')
  for (const c of canaries) t.notOk(bytes.includes(c), `${c} never crossed the wire`)
  t.notOk(bytes.includes(Buffer.from('canary-pattern-password-91c2').toString('base64')), 'nor base64 data')
  t.equal(secret('init-reader', 'tls').source.type, 'kubernetes.io/tls', 'source.type from the Table listing')
  t.equal(secret('two-names', 'db').source.type, 'Opaque')
})

t.test('one key read under two names: both mapped, both removed, both in the env-map', async (t) => {
  t.same(secret('two-names', 'db').fields, {password: ['DB_PASSWORD', 'PGPASSWORD'], username: 'DB_USER'})
})

t.test('references of init containers say init, volumes included; projected index is the source position', async (t) => {
  const initEnv = secret('init-reader', 'db').references![0]!
  t.match(initEnv, {container: 'migrate', init: true, type: 'env', env: 'MIGRATE_PASSWORD'})
  t.match(secret('init-reader', 'tls').references![0], {container: 'migrate', init: true, type: 'volume', volume: 'tls', index: 0})
  t.match(secret('projected', 'db').references!.find((x) => x.type === 'projected'), {volume: 'creds', index: 2})
  t.match(secret('projected', 'tls').references![0], {volume: 'creds', index: 3})
})

t.test('$(VAR) in command and args: the plan lists the secret variables the wrapper must expand', async (t) => {
  t.same(workloads.get('expands')!.containers, [{name: 'app', image: 'registry.example.eu/app:1', expands: ['DB_PASSWORD', 'DB_USER']}])
  const composed = secret('composed', 'db')
  t.same(composed.fields, {username: 'DB_USER'}, 'a variable composed into another stays on the Secret')
  t.match(composed.references!.find((x) => x.env === 'DB_PASSWORD')!.remains, /DATABASE_URL composes it/)
})

const apps = cp.kubeConfig.makeApiClient(AppsV1Api)
const live = (name: string): Promise<V1Deployment> => apps.readNamespacedDeployment({name, namespace: 'patterns'})

const beforeFiles = live('files-only')

t.test('protect, then the webhook on the protected Pods', async (t) => {
  const before = await live('subpath-only')
  const p = await cli(['target', 'protect', '--plan', planFile, '--yes', '--json'])
  t.equal(p.status, 0, p.stderr)
  const after = (await loadPlan(planFile)).plan.tenants.find((x) => x.namespace === 'patterns')!.workloads

  const twoNames = (await live('two-names')).spec!.template
  t.same(twoNames.spec!.containers[0]!.env ?? [], [], 'both names removed')
  t.equal(twoNames.metadata!.annotations![Annotations.envMap], 'password=DB_PASSWORD,password=PGPASSWORD,username=DB_USER')

  const subpath = after.find((w) => w.name === 'subpath-only')!
  t.match(subpath.status, {state: 'skipped', reason: /nothing the wrapper can deliver/})
  t.match(subpath.secrets[0]!.references![0]!.remains, /subPath/)
  t.equal((await live('subpath-only')).metadata!.generation, before.metadata!.generation, 'a workload with nothing deliverable is not touched')

  const files = (await live('files-only')).spec!.template
  t.notOk(files.spec!.volumes, 'the Secret volume is gone from a files-only workload')
  t.same(JSON.parse(files.metadata!.annotations![Annotations.fileMap]!), [{path: 'secret/data/lab/patterns/tls', mountPath: '/etc/tls', defaultMode: 256}])
  const filesPod: V1Pod = {metadata: {name: 'files-only-x', namespace: 'patterns', ...files.metadata}, spec: files.spec}
  const fm = mutatePod(filesPod, {wrapperImage: 'w', wrapperSource: '/cloudtaser-wrapper'})
  const filesMutated = applyPatch(filesPod, fm.allowed ? fm.patch : [])
  t.match(filesMutated.spec!.containers[0]!.volumeMounts, [{name: 'cloudtaser-bin'}, {name: 'cloudtaser-files-0', mountPath: '/etc/tls'}], 'the webhook mounts the wrapper\'s memory directory where the Secret was')

  const init = (await live('init-reader')).spec!.template
  t.equal(init.metadata!.annotations![Annotations.initContainers], 'migrate')
  t.notOk(init.spec!.initContainers![1]!.env, 'the init container\'s env reference moved to the wrapper')
  t.notOk(init.spec!.volumes, 'the Secret volume both the init container and the app mounted is delivered as files')
  const pod: V1Pod = {metadata: {name: 'init-reader-x', namespace: 'patterns', ...init.metadata}, spec: init.spec}
  const m = mutatePod(pod, {wrapperImage: 'registry.example.eu/cloudtaser-wrapper:1', wrapperSource: '/cloudtaser-wrapper'})
  t.equal(m.allowed, true)
  const mutated = applyPatch(pod, m.allowed ? m.patch : [])
  const names = mutated.spec!.initContainers!.map((c) => `${c.name}:${c.command![0]}`)
  t.same(names, ['cloudtaser-init:/cloudtaser-wrapper', 'wait:sh', `migrate:${WRAPPER_PATH}`], 'the wrapper is copied first, then wraps only the init container that reads secrets')
  t.match(mutated.spec!.initContainers![2]!.env!.find((e) => e.name === 'CLOUDTASER_ON_SECRET_CHANGE'), {value: 'none'}, 'an init container is never restarted on a change')

  const marked: V1Pod = {metadata: {name: 'x', annotations: {[Annotations.inject]: 'true', [Annotations.vaultAddress]: 'https://o:8200'}}, spec: {containers: [{name: 'a', image: 'i', command: ['/a']}]}}
  t.match(mutatePod(marked, {wrapperImage: 'w', wrapperSource: '/w'}), {allowed: true, patch: [], reason: 'nothing-to-inject', warnings: [/names a secret; it starts without the wrapper/]}, 'a marked Pod with nothing to inject is created as it is, with a warning')

  const unprotect = await cli(['target', 'unprotect', '--plan', planFile, '--yes'])
  t.equal(unprotect.status, 0, unprotect.stderr)
  const restored = (await live('two-names')).spec!.template.spec!.containers[0]!.env
  t.same(restored?.map((e) => e.name), ['DB_PASSWORD', 'PGPASSWORD', 'DB_USER'], 'unprotect puts both back in order')
  t.same((await live('init-reader')).spec!.template.spec!.initContainers![1]!.env?.map((e) => e.name), ['MIGRATE_PASSWORD'])
  t.same((await live('files-only')).spec!.template.spec, (await beforeFiles).spec!.template.spec, 'the files-only workload is back exactly: volume, defaultMode, mount')
})
