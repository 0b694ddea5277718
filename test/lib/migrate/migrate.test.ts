// target migrate end to end on the lab (real kube-apiserver, controller-manager, OpenBao; no
// node): every Secret type of a two-namespace fixture copied and proven equal, re-runs that do
// nothing, --check, finalize refusing while anything uses a Secret and deleting once the
// workloads' Pods (wrapped by the real webhook, marked Ready through the status API) are the only
// readers, drift, conflict, rollback byte for byte, and a leak hunt over every output, the plan,
// the lab's logs and every file the CLI opened for writing (strace).
import t, {type Test} from 'tap'
import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {CoreV1Api} from '@kubernetes/client-node'
import {huntCanaries, startLab} from '../../../lib/lab/index.js'
import {loadPlan, renderPlan} from '../../../lib/plan/io.js'
import type {MigrationPlan} from '../../../lib/plan/types.generated.js'
import {startOperator} from '../../../runtime/operator/server.js'
import {isolatedEnv, runCli, type CliRun} from '../../helpers/cli.js'
import {bao, eventually} from '../lab/helpers.js'
import {createMigrateFixture, type FixtureSecret} from './fixtures.js'

const lab = await startLab()
t.teardown(() => lab.stop())
const core = lab.kubeConfig.makeApiClient(CoreV1Api)
const dir = mkdtempSync(join(tmpdir(), 'ct-migrate-'))
t.teardown(() => rmSync(dir, {recursive: true, force: true}))
const planFile = join(dir, 'plan.yaml')
const env = {HOME: dir, KUBECONFIG: lab.kubeconfigPath, BAO_ADDR: lab.baoAddr, BAO_TOKEN: lab.baoToken, CLOUDTASER_ACTOR: 'migrator@ci'}

/** Every run's output, for the leak hunt at the end. */
const outputs: string[] = []
const cli = async (...args: string[]): Promise<CliRun> => {
  const r = await runCli(args, {env, cwd: dir})
  outputs.push(r.stdout, r.stderr)
  return r
}
const json = async (t: Test, exit: number, ...args: string[]) => {
  const r = await cli(...args, '--json')
  t.equal(r.code, exit, `${args.slice(0, 3).join(' ')}: exit ${exit}\n${r.stderr}${exit !== r.code ? r.stdout.slice(0, 3000) : ''}`)
  return JSON.parse(r.stdout)
}

const op = await startOperator({
  mutation: {wrapperImage: 'registry.local/cloudtaser-wrapper:test', wrapperSource: '/cloudtaser-wrapper'},
  host: '127.0.0.1',
  port: 0,
  register: true,
  kubeConfig: lab.kubeConfig,
  failurePolicy: 'Fail',
  timeoutSeconds: 5,
  excludeNamespaces: ['kube-system', 'cloudtaser-system'],
  log: () => undefined,
})
t.teardown(() => op.close())

const fx = await createMigrateFixture(lab.kubeConfig, ['m-shop', 'm-pay'])
const byKey = new Map(fx.secrets.map((s) => [`${s.namespace}/${s.name}`, s]))

/** OpenBao's values at a plan path, decoded as the plan says: what a reader of KV gets. */
async function kvBytes(path: string, base64Fields: string[] = [], version?: number): Promise<Record<string, Buffer>> {
  const r = await bao(lab.baoAddr, lab.baoToken, 'GET', path + (version ? `?version=${version}` : ''))
  const data = r.body?.data?.data as Record<string, string>
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, base64Fields.includes(k) ? Buffer.from(v, 'base64') : Buffer.from(v, 'utf8')]))
}

const secretBytes = async (namespace: string, name: string): Promise<Record<string, Buffer> | undefined> => {
  const s = await core.readNamespacedSecret({namespace, name}).catch(() => undefined)
  return s ? Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])) : undefined
}

const same = (a: Record<string, Buffer>, b: Record<string, Buffer>): boolean =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] !== undefined && v.equals(b[k]!))

const plan = async (): Promise<MigrationPlan> => (await loadPlan(planFile)).plan
/** The plan's KV v2 path of a Secret, as discover wrote it; `metadata` for the metadata endpoint. */
const pathOf = async (ns: string, name: string, metadata = false): Promise<string> => {
  const s = (await plan()).tenants.find((x) => x.namespace === ns)!.workloads.flatMap((w) => w.secrets).find((x) => x.source.name === name)!
  return metadata ? s.vaultPath.replace('/data/', '/metadata/') : s.vaultPath
}
const record = (p: MigrationPlan, ns: string, name: string) => p.tenants.find((x) => x.namespace === ns)!.secrets?.find((s) => s.name === name)

t.test('discover, then the plan marks the report CronJobs skipped', async (t) => {
  const r = await cli('target', 'discover', '-o', planFile, '-n', 'm-shop', '-n', 'm-pay', '--vault-address', 'https://openbao.eu.example:8200')
  t.equal(r.code, 0, r.stderr)
  const p = await plan()
  for (const tenant of p.tenants) for (const w of tenant.workloads) if (w.kind === 'CronJob') w.status = {state: 'skipped', reason: 'the reporting team migrates it next quarter'}
  writeFileSync(planFile, renderPlan(p))
  t.same(p.tenants.map((x) => x.namespace).sort(), ['m-pay', 'm-shop'])
})

t.test('migrate --dry-run: every Secret would be copied, nothing written', async (t) => {
  const r = await json(t, 0, 'target', 'migrate', '--plan', planFile, '--dry-run')
  t.equal(r.processed.length, fx.secrets.length)
  t.ok(r.processed.every((o: {outcome: string}) => o.outcome === 'would-create'), JSON.stringify(r.counts))
  for (const s of fx.secrets) t.equal((await bao(lab.baoAddr, lab.baoToken, 'GET', await pathOf(s.namespace, s.name, true))).status, 404, `OpenBao untouched: ${s.name}`)
  t.notOk(record(await plan(), 'm-shop', 'db'), 'plan untouched')
  const human = await cli('target', 'migrate', '--plan', planFile, '--dry-run')
  t.match(human.stdout, /would copy\s+m-shop\/blob -> secret\/data\/cloudtaser-lab\/m-shop\/blob \(fields keystore\.p12, note\.txt; base64: keystore\.p12\)/)
  t.match(human.stderr, /^3 Secret\(s\) have binary fields, stored base64 in OpenBao .*run `target protect` after this so the wrappers decode them/, 'binary fields are called out')
})

t.test('migrate: every Secret copied, equal byte for byte, recorded without values', async (t) => {
  const r = await json(t, 0, 'target', 'migrate', '--plan', planFile)
  t.same(r.counts, {copied: fx.secrets.length}, JSON.stringify(r.processed.filter((o: {outcome: string}) => o.outcome !== 'copied')))
  const p = await plan()
  for (const s of fx.secrets) {
    const rec = record(p, s.namespace, s.name)!
    t.ok(rec, `${s.namespace}/${s.name} recorded`)
    t.equal(rec.state, 'copied')
    t.equal(rec.type, s.type)
    t.same(rec.fields, Object.keys(s.data).sort())
    t.match(rec.copy, {by: 'migrator@ci', kvVersion: 1, digest: 'hmac-sha256'})
    t.ok(same(await kvBytes(rec.vaultPath, rec.base64Fields), s.data), `${s.namespace}/${s.name}: OpenBao holds exactly the Kubernetes bytes`)
  }
  t.same(record(p, 'm-shop', 'blob')!.base64Fields, ['keystore.p12'], 'only the binary field is base64')
  t.same(record(p, 'm-shop', 'big')!.base64Fields, ['data.bin'])
  t.same(record(p, 'm-shop', 'db')!.labels, {'app.kubernetes.io/name': 'db', team: 'payments'})
  t.same(record(p, 'm-shop', 'db')!.annotations, {'team.example.eu/owner': 'payments'})
  t.same(record(p, 'm-shop', 'db')!.omittedAnnotations, ['checksum/values', 'kubectl.kubernetes.io/last-applied-configuration'])
  t.match(record(p, 'm-shop', 'regcred')!.keep, /image pull secret/)
})

t.test('a re-run writes nothing; --check finds every Secret in sync', async (t) => {
  const r = await json(t, 0, 'target', 'migrate', '--plan', planFile)
  t.same(r.counts, {already: fx.secrets.length})
  t.equal(r.requests.openbao.byMethod.POST ?? 0, 0, 'no write to OpenBao')
  t.equal(r.requests.openbao.byMethod.GET, 1, 'OpenBao asked only about the KV mount, nothing per Secret')
  const c = await json(t, 0, 'target', 'migrate', '--plan', planFile, '--check')
  t.same(c.counts, {'in-sync': fx.secrets.length})
  t.equal(c.ok, true)
})

/** Pods of the workload (by label) whose template is protected: marked Running and Ready, as a kubelet would. */
async function makeReady(namespace: string, app: string): Promise<string[]> {
  const pods = await eventually(`wrapped pods of ${namespace}/${app}`, async () => {
    const l = await core.listNamespacedPod({namespace, labelSelector: `app=${app}`})
    const wrapped = l.items.filter((p) => (p.spec?.initContainers ?? []).some((c) => c.name === 'cloudtaser-init'))
    return wrapped.length > 0 ? wrapped : undefined
  })
  for (const p of pods) {
    const now = new Date()
    p.status = {...p.status, phase: 'Running', conditions: [{type: 'Ready', status: 'True', lastTransitionTime: now}, {type: 'PodScheduled', status: 'True', lastTransitionTime: now}]}
    await core.replaceNamespacedPodStatus({namespace, name: p.metadata!.name!, body: p})
  }
  return pods.map((p) => p.metadata!.name!)
}

const kept = (r: {processed: Array<{namespace: string; name: string; outcome: string; reasons?: string[]}>}, key: string) => r.processed.find((o) => `${o.namespace}/${o.name}` === key)

t.test('finalize keeps every Secret while the workloads read them, and says who', async (t) => {
  const r = await json(t, 1, 'target', 'migrate', 'finalize', '--plan', planFile, '--dry-run')
  t.ok(r.processed.every((o: {outcome: string}) => o.outcome === 'kept'), JSON.stringify(r.counts))
  const db = kept(r, 'm-shop/db')!
  t.ok(db.reasons!.includes('Deployment/api is pending in the plan: it still reads the Secret'), db.reasons!.join('\n'))
  t.ok(db.reasons!.includes('still used by Deployment/api: env DB_PASSWORD in container api'))
  t.ok(db.reasons!.some((x) => /^still used by Pod\/api-.*: env DB_USER in container api$/.test(x)), 'the running Pod is named')
  t.ok(kept(r, 'm-shop/regcred')!.reasons!.includes('still used by ServiceAccount/api: imagePullSecrets'))
  t.ok(kept(r, 'm-shop/web-tls')!.reasons!.includes('still used by Ingress/web: tls for web.example.eu'))
  const finalizeRefused = await cli('target', 'migrate', 'finalize', '--plan', planFile)
  t.equal(finalizeRefused.code, 2, 'deleting needs --yes, --interactive or --dry-run')
})

t.test('protect; the webhook wraps the new Pods; finalize waits for them, then deletes exactly what nothing else uses', async (t) => {
  const p = await cli('target', 'protect', '--plan', planFile, '--yes')
  t.equal(p.code, 0, p.stderr)
  const before = await json(t, 1, 'target', 'migrate', 'finalize', '--plan', planFile, '--dry-run')
  const db = kept(before, 'm-shop/db')!
  t.ok(db.reasons!.some((x) => /^Deployment\/api: Pod api-\S+ (is not Ready|does not run under the wrapper)$/.test(x)), db.reasons!.join('\n'))
  t.ok(db.reasons!.some((x) => /^still used by (Pod|ReplicaSet)\/api-/.test(x)), 'the old Pod and ReplicaSet still read it')

  for (const ns of fx.namespaces) for (const app of ['api', 'mirror']) await makeReady(ns, app)
  // The binary fields travel from the plan through protect and the webhook to the wrapper's settings.
  const [wrappedPod] = (await core.listNamespacedPod({namespace: 'm-shop', labelSelector: 'app=api'})).items.filter((x) => (x.spec?.initContainers ?? []).some((c) => c.name === 'cloudtaser-init'))
  const b64 = JSON.parse(wrappedPod!.spec!.containers[0]!.env!.find((e) => e.name === 'CLOUDTASER_BASE64_FIELDS')!.value!) as Record<string, string[]>
  t.same(b64[await pathOf('m-shop', 'blob')], ['keystore.p12'], 'the wrapper is told to decode the binary field, and only it')
  // The Deployment controller scales the old ReplicaSets down once the new Pods are Ready; unscheduled Pods go at once.
  await eventually('old Pods gone', async () => {
    const pods = (await core.listPodForAllNamespaces()).items.filter((x) => fx.namespaces.includes(x.metadata!.namespace!))
    return pods.every((x) => (x.spec?.initContainers ?? []).some((c) => c.name === 'cloudtaser-init')) ? true : undefined
  }, 60_000)

  const r = await json(t, 1, 'target', 'migrate', 'finalize', '--plan', planFile, '--yes')
  const deleted = r.processed.filter((o: {outcome: string}) => o.outcome === 'deleted').map((o: {namespace: string; name: string}) => `${o.namespace}/${o.name}`).sort()
  t.same(deleted, ['m-pay/basic', 'm-pay/blob', 'm-pay/db', 'm-pay/tls', 'm-shop/basic', 'm-shop/big', 'm-shop/blob', 'm-shop/db', 'm-shop/tls'], JSON.stringify(r.processed.filter((o: {outcome: string}) => o.outcome !== 'deleted'), null, 1))
  t.ok(kept(r, 'm-shop/shared')!.reasons!.includes('CronJob/report is skipped in the plan: it still reads the Secret'))
  t.match(kept(r, 'm-pay/regcred')!.reasons!.join('\n'), /image pull secret/)
  t.ok(kept(r, 'm-shop/web-tls')!.reasons!.includes('still used by Ingress/web: tls for web.example.eu'))
  for (const key of deleted) {
    const [ns, name] = key.split('/')
    t.equal(await secretBytes(ns!, name!), undefined, `${key} is gone from Kubernetes`)
    t.match(record(await plan(), ns!, name!), {state: 'deleted', deletion: {by: 'migrator@ci'}})
  }
  t.ok(await secretBytes('m-shop', 'regcred'), 'kept Secrets stay')
  const again = await json(t, 1, 'target', 'migrate', 'finalize', '--plan', planFile, '--yes')
  t.equal(again.counts.deleted, undefined, 'a second finalize deletes nothing more')
  t.equal(again.counts.already, deleted.length)
})

const extraCanaries: string[] = []
const newCanary = (tag: string): string => {
  const c = `CANARY-${tag}-${Math.random().toString(36).slice(2, 12)}`
  extraCanaries.push(c)
  return c
}

t.test('drift: a Secret re-created after finalize, a value changed in Kubernetes; conflict (exit 6) until --overwrite', async (t) => {
  await core.createNamespacedSecret({namespace: 'm-pay', body: {metadata: {name: 'db'}, stringData: {password: newCanary('recreated')}}})
  const keyNow = newCanary('web-key-2')
  const web = await core.readNamespacedSecret({namespace: 'm-shop', name: 'web-tls'})
  web.data!['tls.key'] = Buffer.from(keyNow).toString('base64')
  await core.replaceNamespacedSecret({namespace: 'm-shop', name: 'web-tls', body: web})

  const c = await json(t, 1, 'target', 'migrate', '--plan', planFile, '--check')
  const row = (key: string) => c.secrets.find((s: {namespace: string; name: string}) => `${s.namespace}/${s.name}` === key)
  t.match(row('m-pay/db'), {state: 'recreated', drift: true})
  t.match(row('m-shop/web-tls'), {state: 'changed-in-kubernetes', drift: true, detail: 'differs from KV version 1: tls.key (differs)'})
  t.match(row('m-shop/db'), {state: 'finalized', drift: false})
  t.match(row('m-shop/regcred'), {state: 'in-sync', drift: false})
  const human = await cli('target', 'migrate', '--plan', planFile, '--check')
  t.match(human.stdout, /m-pay\/db\s+DRIFT recreated/)
  // The OpenBao side, where it also reaches the cluster: the same check through source verify-plan.
  const verify = await cli('source', 'verify-plan', planFile, '--migration', '--json')
  t.equal(verify.code, 1, 'verify-plan --migration exits 1 on drift')
  const v = JSON.parse(verify.stdout)
  t.same(v.migration.secrets, c.secrets, 'the same rows as target migrate --check')

  const conflict = await cli('target', 'migrate', '--plan', planFile, '--json')
  t.equal(conflict.code, 6, 'a different value in OpenBao is a conflict')
  const r = JSON.parse(conflict.stdout)
  t.match(r.processed.find((o: {name: string; namespace: string}) => o.namespace === 'm-shop' && o.name === 'web-tls'), {outcome: 'conflict', differing: ['tls.key (differs)']})
  t.match(r.processed.find((o: {name: string; namespace: string}) => o.namespace === 'm-pay' && o.name === 'db'), {outcome: 'drift'})
  t.equal((await bao(lab.baoAddr, lab.baoToken, 'GET', await pathOf('m-shop', 'web-tls', true))).body.data.current_version, 1, 'nothing written')
  const text = await cli('target', 'migrate', '--plan', planFile)
  t.match(text.stderr, /conflict\(s\): OpenBao already holds different values/)
  t.match(text.stdout, /CONFLICT\s+m-shop\/web-tls -> secret\/data\/cloudtaser-lab\/m-shop\/web-tls \(differing: tls\.key \(differs\)\)/)

  const over = await json(t, 1, 'target', 'migrate', '--plan', planFile, '--overwrite')
  t.match(over.processed.find((o: {name: string; namespace: string}) => o.namespace === 'm-shop' && o.name === 'web-tls'), {outcome: 'updated', kvVersion: 2})
  t.equal(over.counts.drift, 1, 'the re-created Secret is still reported, never copied over the migrated value')
  t.equal((await kvBytes(await pathOf('m-shop', 'web-tls')))['tls.key']!.toString(), keyNow)
  t.match(record(await plan(), 'm-shop', 'web-tls'), {state: 'copied', copy: {kvVersion: 2}})

  await core.deleteNamespacedSecret({namespace: 'm-pay', name: 'db'})
  const after = await json(t, 0, 'target', 'migrate', '--plan', planFile, '--check')
  t.equal(after.ok, true, JSON.stringify(after.secrets.filter((s: {drift: boolean}) => s.drift)))
})

t.test('rollback recreates every deleted Secret identical to the original: type, labels, annotations, bytes', async (t) => {
  const dry = await json(t, 0, 'target', 'migrate', 'rollback', '--plan', planFile, '--dry-run')
  const restorable = dry.processed.filter((o: {outcome: string}) => o.outcome === 'would-restore').length
  t.equal(restorable, 9)
  const r = await json(t, 0, 'target', 'migrate', 'rollback', '--plan', planFile, '--yes')
  t.equal(r.counts.restored, 9, JSON.stringify(r.processed))
  const p = await plan()
  for (const o of r.processed.filter((x: {outcome: string}) => x.outcome === 'restored')) {
    const orig = byKey.get(`${o.namespace}/${o.name}`) as FixtureSecret
    const live = await core.readNamespacedSecret({namespace: o.namespace, name: o.name})
    t.equal(live.type, orig.type, `${o.namespace}/${o.name}: type`)
    t.same(live.metadata!.labels ?? {}, orig.labels, 'labels')
    const expected = Object.fromEntries(Object.entries(orig.annotations).filter(([k]) => !(record(p, o.namespace, o.name)!.omittedAnnotations ?? []).includes(k)))
    t.same(live.metadata!.annotations ?? {}, expected, 'annotations, minus those never recorded')
    t.ok(same((await secretBytes(o.namespace, o.name))!, orig.data), 'every value byte for byte')
    t.match(record(p, o.namespace, o.name), {state: 'restored', restore: {by: 'migrator@ci', kvVersion: 1, uid: live.metadata!.uid}})
  }
  const again = await json(t, 0, 'target', 'migrate', 'rollback', '--plan', planFile, '--yes')
  t.same(again.counts, {present: 11 + 3}, 'a second rollback creates nothing')
  const c = await json(t, 0, 'target', 'migrate', '--plan', planFile, '--check')
  t.same(c.counts, {'in-sync': fx.secrets.length})
  const u = await cli('target', 'unprotect', '--plan', planFile, '--yes')
  t.equal(u.code, 0, u.stderr)
})

t.test('leak hunt: no canary in any output, the plan, the lab\'s logs or any file the CLI wrote (strace)', async (t) => {
  // A copy that moves a value (a Secret changed, --overwrite) and a rollback, traced: every file they open for writing is hunted.
  const traced = (name: string, args: string[]): string => {
    const out = execFileSync('strace', ['-f', '-qq', '-e', 'trace=open,openat,creat,rename,renameat,renameat2,link,symlink', '-o', join(dir, name), 'env', '-u', 'NODE_OPTIONS', process.execPath, join(process.cwd(), 'bin/run.js'), ...args], {
      // `env -u`: without the NODE_OPTIONS tap puts into every child (its process-info hook writes files of its own), the CLI as users run it.
      // The CLI caches its compiled code (bin/run.js); on a cold machine that write lands in /tmp. Kept in
      // the plan's directory, it is hunted for canaries with everything else.
      env: {...isolatedEnv(env), NODE_COMPILE_CACHE: join(dir, '.node-compile-cache')},
      cwd: dir,
      encoding: 'utf8',
    })
    outputs.push(out)
    return readFileSync(join(dir, name), 'utf8')
  }
  const shared = await core.readNamespacedSecret({namespace: 'm-shop', name: 'shared'})
  shared.data!.token = Buffer.from(newCanary('shared-2')).toString('base64')
  await core.replaceNamespacedSecret({namespace: 'm-shop', name: 'shared', body: shared})
  const copyTrace = traced('trace-copy', ['target', 'migrate', '--plan', planFile, '--overwrite', '--json'])
  t.match(JSON.parse(outputs.at(-1)!).counts, {updated: 1}, 'the traced copy moved a value')
  await core.deleteNamespacedSecret({namespace: 'm-shop', name: 'db'})
  const rollbackTrace = traced('trace-rollback', ['target', 'migrate', 'rollback', '--plan', planFile, '--yes', '--secret', 'm-shop/db', '--json'])
  t.match(JSON.parse(outputs.at(-1)!).counts, {restored: 1}, 'the traced rollback recreated a Secret')
  const written = new Set<string>()
  for (const line of `${copyTrace}\n${rollbackTrace}`.split('\n')) {
    const m = /open(?:at)?\((?:AT_FDCWD, )?"([^"]+)", ([^)]*)\)/.exec(line)
    if (m && /O_WRONLY|O_RDWR|O_CREAT/.test(m[2]!)) written.add(m[1]!)
    const r = /rename(?:at2?)?\((?:AT_FDCWD, )?"[^"]+", (?:AT_FDCWD, )?"([^"]+)"/.exec(line)
    if (r) written.add(r[1]!)
  }
  const files = [...written].filter((f) => !f.startsWith('/dev/') && !f.startsWith('/proc/'))
  t.ok(files.includes(planFile) || files.some((f) => f.startsWith(join(dir, '.plan.yaml.tmp'))), `the plan is written (${files.join(', ')})`)
  t.same(files.filter((f) => !f.startsWith(dir)), [], 'nothing written outside the plan\'s directory')

  const canaries = [...fx.canaries, ...extraCanaries]
  const outFile = join(mkdtempSync(join(tmpdir(), 'ct-migrate-out-')), 'outputs.txt')
  writeFileSync(outFile, outputs.join('\n'))
  const logs = execFileSync('find', [lab.controlPlane.dir, lab.openBao.dir, '-name', '*.log'], {encoding: 'utf8'}).split('\n').filter(Boolean)
  const hunt = await huntCanaries([outFile, dir, ...files.filter((f) => f.startsWith(dir)), ...logs], canaries)
  t.same(hunt.hits, [], `${canaries.length} canaries in ${hunt.files} files (${hunt.bytes} bytes): outputs, plan, HOME, traced writes, ${logs.length} lab logs`)
  t.ok(hunt.bytes > 100_000, 'the hunt read the outputs and logs')
  // The control: the canary is where it belongs (etcd holds the Secrets the rollback recreated).
  const etcd = await huntCanaries([lab.controlPlane.dir], [fx.canaries[0]!])
  t.ok(etcd.hits.length > 0, 'the same hunt finds a canary in etcd, where the Kubernetes Secret lives')
  rmSync(outFile, {force: true})
})
