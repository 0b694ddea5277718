// target migrate end to end on the lab (real kube-apiserver, controller-manager, OpenBao; no
// node): every Secret type of a two-namespace fixture copied and proven equal, re-runs that do
// nothing, --check, finalize refusing while anything uses a Secret and deleting once the
// workloads' Pods (wrapped by the real webhook, marked Ready through the status API) are the only
// readers, drift, conflict, rollback byte for byte, and a leak hunt over every output, the plan,
// the lab's logs and every file the CLI opened for writing (strace).
import t from 'tap'
import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {AppsV1Api, CoreV1Api} from '@kubernetes/client-node'
import {huntCanaries, startLab} from '../../../lib/lab/index.js'
import {loadPlan, renderPlan} from '../../../lib/plan/io.js'
import type {MigrationPlan} from '../../../lib/plan/types.generated.js'
import {startOperator} from '../../../runtime/operator/server.js'
import {runCli, type CliRun} from '../../helpers/cli.js'
import {bao, eventually} from '../lab/helpers.js'
import {createMigrateFixture, type FixtureSecret} from './fixtures.js'

const lab = await startLab()
t.teardown(() => lab.stop())
const core = lab.kubeConfig.makeApiClient(CoreV1Api)
const apps = lab.kubeConfig.makeApiClient(AppsV1Api)
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
const json = async (t: Tap.Test, exit: number, ...args: string[]) => {
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
  const r = await bao(lab.baoAddr, lab.baoToken, 'GET', path.replace('/data/', '/data/') + (version ? `?version=${version}` : ''))
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
  const meta = await bao(lab.baoAddr, lab.baoToken, 'GET', `secret/metadata/lab/m-shop/db`)
  t.equal(meta.status, 404, 'OpenBao untouched')
  t.notOk(record(await plan(), 'm-shop', 'db'), 'plan untouched')
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
