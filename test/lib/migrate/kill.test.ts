// kill -9 at random points of target migrate, finalize and rollback: every interrupted run is
// followed by another, and the end state is the one an uninterrupted run gives (each value in
// OpenBao written once, proven equal; Secrets deleted, then recreated byte for byte; the plan
// valid with every record). Also: a conflict on a path someone else already wrote (exit 6).
import t, {type Test} from 'tap'
import {spawn} from 'node:child_process'
import {mkdtempSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {BatchV1Api, CoreV1Api} from '@kubernetes/client-node'
import {startLab} from '../../../lib/lab/index.js'
import {loadPlan, renderPlan} from '../../../lib/plan/io.js'
import {isolatedEnv, runCli} from '../../helpers/cli.js'
import {bao} from '../lab/helpers.js'
import {binaryWith, canary} from './fixtures.js'

const lab = await startLab()
t.teardown(() => lab.stop())
const core = lab.kubeConfig.makeApiClient(CoreV1Api)
const batch = lab.kubeConfig.makeApiClient(BatchV1Api)
const dir = mkdtempSync(join(tmpdir(), 'ct-migrate-kill-'))
t.teardown(() => rmSync(dir, {recursive: true, force: true}))
const planFile = join(dir, 'plan.yaml')
const env = {HOME: dir, KUBECONFIG: lab.kubeconfigPath, BAO_ADDR: lab.baoAddr, BAO_TOKEN: lab.baoToken, CLOUDTASER_ACTOR: 'killer@ci'}
const cli = (...args: string[]) => runCli(args, {env, cwd: dir})
const BIN = join(process.cwd(), 'bin/run.js')

const NS = 'k-app'
const N = 40
const original = new Map<string, Record<string, Buffer>>()
await core.createNamespace({body: {metadata: {name: NS}}})
for (let i = 0; i < N; i++) {
  const name = `s-${String(i).padStart(2, '0')}`
  const data: Record<string, Buffer> = {value: Buffer.from(canary(name)), ...(i % 4 === 0 ? {blob: binaryWith(canary(`${name}-bin`), i === 0 ? 200 * 1024 : 512)} : {})}
  original.set(name, data)
  await core.createNamespacedSecret({namespace: NS, body: {metadata: {name, labels: {i: String(i)}}, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, v.toString('base64')]))}})
}
// CronJobs: protected by patching their template, and with no Pods between runs, so finalize needs nothing to be Ready.
for (let j = 0; j < N / 5; j++) {
  const names = [...original.keys()].slice(j * 5, j * 5 + 5)
  await batch.createNamespacedCronJob({
    namespace: NS,
    body: {
      metadata: {name: `job-${j}`},
      spec: {schedule: '0 3 * * *', jobTemplate: {spec: {template: {spec: {restartPolicy: 'OnFailure', containers: [{name: 'job', image: 'registry.example.eu/job:1', command: ['/job'], envFrom: names.map((n) => ({prefix: `${n.toUpperCase().replace('-', '_')}_`, secretRef: {name: n}}))}]}}}}},
    },
  })
}

/**
 * Starts the command and kills it with SIGKILL once `progress` reaches `at` (or after `ms`);
 * returns the progress seen at the kill, or undefined if the run had ended by itself.
 */
function killWhen(args: string[], at: number, ms: number, progress: () => Promise<number>): Promise<number | undefined> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], {env: isolatedEnv(env), cwd: dir, stdio: 'ignore'})
    let exited = false
    let done = 0
    p.on('exit', () => (exited = true))
    const deadline = Date.now() + ms
    const poll = async (): Promise<void> => {
      while (!exited && Date.now() < deadline && (done = await progress()) < at) await sleep(20)
      const running = !exited
      p.kill('SIGKILL')
      p.on('close', () => resolve(running ? done : undefined))
      if (!running) resolve(undefined)
    }
    void poll()
  })
}

/**
 * Kill -9 runs, each once a random share of the work is done (or at a random time, to hit start-up
 * and plan writes too), until `kills` of them died with the work part done; then one run to the end.
 */
async function converge(t: Test, args: string[], kills: number, progress: () => Promise<number>): Promise<unknown> {
  const seen: string[] = []
  let partial = 0
  for (let i = 0; i < 4 * kills && partial < kills; i++) {
    // Progress carries over between runs: aim past what is done already, so each kill lands inside its run's work.
    const before = await progress()
    const byTime = i % 3 === 2 || before >= N - 2
    // A sixth of what is left at most: on a loaded machine a run overshoots its mark between two polls,
    // and a run that reaches N before the kill does not count (seen in a full run: 3 of 4, then done).
    const at = byTime ? N + 1 : before + 1 + Math.floor(Math.random() * Math.max(1, (N - before) / 6))
    // Start-up and the first writes: a whole run takes ~1 s here, and a kill after it (up to 2.3 s
    // before) left no work for the partial kills still needed.
    const ms = byTime ? 200 + Math.floor(Math.random() * 800) : 30_000
    const done = await killWhen(args, at, ms, progress)
    if (done === undefined) continue
    if (done > before && done < N) partial++
    seen.push(byTime ? `after ${ms} ms (${done}/${N} done)` : `at ${done}/${N} done`)
  }
  t.comment(`${args.slice(0, 3).join(' ')}: killed ${seen.join(', ')}`)
  t.equal(partial, kills, `${kills} runs were killed with part of the work done`)
  const r = await cli(...args, '--json')
  t.equal(r.code, 0, `the run after the kills finishes: ${r.stderr}`)
  t.same(readdirSync(dir).filter((f) => f.includes('.tmp-')), [], 'no temporary plan file left behind')
  return JSON.parse(r.stdout)
}

const vaultPath = async (name: string): Promise<string> =>
  (await loadPlan(planFile)).plan.tenants[0]!.workloads.flatMap((w) => w.secrets).find((s) => s.source.name === name)!.vaultPath

const present = async (): Promise<number> => (await core.listNamespacedSecret({namespace: NS})).items.filter((s) => s.metadata!.name!.startsWith('s-')).length

t.test('discover and protect the CronJobs', async (t) => {
  t.equal((await cli('target', 'discover', '-o', planFile, '-n', NS, '--vault-address', 'https://openbao.eu.example:8200')).code, 0)
  const p = await cli('target', 'protect', '--plan', planFile, '--yes')
  t.equal(p.code, 0, p.stderr)
})

t.test('a path someone already wrote differently is a conflict: exit 6, fields named, nothing overwritten', async (t) => {
  const path = await vaultPath('s-01')
  const other = canary('other-team')
  t.equal((await bao(lab.baoAddr, lab.baoToken, 'POST', path, {data: {value: other, extra: 'x'}})).status, 200)
  const r = await cli('target', 'migrate', '--plan', planFile, '--json')
  t.equal(r.code, 6, r.stderr)
  const out = JSON.parse(r.stdout)
  t.match(out.processed.find((o: {name: string}) => o.name === 's-01'), {outcome: 'conflict', differing: ['value (differs)', 'extra (only in OpenBao)']})
  t.equal(out.counts.copied, N - 1, 'the other Secrets are copied')
  t.notMatch(r.stdout + r.stderr, other, 'the value in OpenBao is not shown')
  t.notMatch(r.stdout + r.stderr, original.get('s-01')!.value!.toString(), 'nor the Kubernetes one')
  const kv = await bao(lab.baoAddr, lab.baoToken, 'GET', path)
  t.same(kv.body.data.data, {value: other, extra: 'x'}, 'OpenBao keeps its value')
  t.equal(kv.body.data.metadata.version, 1)
})

t.test('migrate --overwrite under kill -9: every value written once (s-01: once more), all proven and recorded', async (t) => {
  // Start over for the other Secrets too: their records and values go, so every run copies again.
  for (const name of original.keys()) if (name !== 's-01') await bao(lab.baoAddr, lab.baoToken, 'DELETE', (await vaultPath(name)).replace('/data/', '/metadata/'))
  const loaded = await loadPlan(planFile)
  delete loaded.plan.tenants[0]!.secrets
  writeFileSync(planFile, renderPlan(loaded.plan))

  // Progress: KV paths written so far (s-01 counts once overwritten), from one LIST of the folder.
  const folder = (await vaultPath('s-00')).replace('/data/', '/metadata/').replace(/\/s-00$/, '')
  const s01 = (await vaultPath('s-01')).replace('/data/', '/metadata/')
  const inOpenBao = async () => {
    const list = await bao(lab.baoAddr, lab.baoToken, 'LIST', folder)
    const keys = (list.body?.data?.keys ?? []) as string[]
    const over = (await bao(lab.baoAddr, lab.baoToken, 'GET', s01)).body?.data?.current_version === 2 ? 1 : 0
    return keys.filter((k) => k !== 's-01').length + over
  }
  const out = (await converge(t, ['target', 'migrate', '--plan', planFile, '--overwrite', '--concurrency', '2'], 4, inOpenBao)) as {counts: Record<string, number>}
  t.equal(Object.values(out.counts).reduce((a, b) => a + b, 0), N)
  const plan = (await loadPlan(planFile)).plan
  const records = plan.tenants[0]!.secrets ?? []
  t.equal(records.length, N, 'every Secret recorded')
  for (const r of records) {
    const kv = await bao(lab.baoAddr, lab.baoToken, 'GET', r.vaultPath)
    t.equal(kv.body.data.metadata.version, r.name === 's-01' ? 2 : 1, `${r.name}: written ${r.name === 's-01' ? 'over the foreign value once' : 'once'}, never twice`)
    t.equal(r.copy.kvVersion, kv.body.data.metadata.version)
    const want = original.get(r.name)!
    const got = Object.fromEntries(Object.entries(kv.body.data.data as Record<string, string>).map(([k, v]) => [k, (r.base64Fields ?? []).includes(k) ? Buffer.from(v, 'base64') : Buffer.from(v)]))
    t.ok(Object.keys(want).length === Object.keys(got).length && Object.entries(want).every(([k, v]) => v.equals(got[k]!)), `${r.name}: equal byte for byte`)
  }
})

t.test('finalize under kill -9: every Secret deleted exactly once, every deletion recorded', async (t) => {
  await converge(t, ['target', 'migrate', 'finalize', '--plan', planFile, '--yes', '--concurrency', '1'], 3, async () => N - (await present()))
  const records = (await loadPlan(planFile)).plan.tenants[0]!.secrets!
  t.ok(records.every((r) => r.state === 'deleted' && r.deletion?.by === 'killer@ci'), 'all recorded as deleted')
  t.equal((await core.listNamespacedSecret({namespace: NS})).items.filter((s) => s.metadata!.name!.startsWith('s-')).length, 0, 'all gone from Kubernetes')
})

t.test('rollback under kill -9: every Secret back, byte for byte, with its labels', async (t) => {
  await converge(t, ['target', 'migrate', 'rollback', '--plan', planFile, '--yes', '--concurrency', '1'], 3, present)
  const records = (await loadPlan(planFile)).plan.tenants[0]!.secrets!
  t.ok(records.every((r) => r.state === 'restored'), 'all recorded as restored')
  for (const [name, data] of original) {
    const s = await core.readNamespacedSecret({namespace: NS, name})
    t.equal(s.metadata!.labels!.i, String(Number(name.slice(2))), `${name}: labels back`)
    const got = Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]))
    t.ok(Object.keys(data).length === Object.keys(got).length && Object.entries(data).every(([k, v]) => v.equals(got[k]!)), `${name}: byte for byte`)
  }
  const c = await cli('target', 'migrate', '--plan', planFile, '--check', '--json')
  t.equal(c.code, 0, 'no drift after all that')
})

t.test('migrate --delete-source: the copy recorded again (the Secrets were recreated), then finalize deletes them', async (t) => {
  const r = await cli('target', 'migrate', '--plan', planFile, '--delete-source', '--json')
  t.equal(r.code, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  t.same(out.counts, {recorded: N}, 'OpenBao already holds the recreated values: recorded, not written')
  t.same(out.finalize.counts, {deleted: N})
  t.equal(await present(), 0)
})
