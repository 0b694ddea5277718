// target protect / unprotect against a real kube-apiserver and controller-manager.
import t from 'tap'
import {spawn, spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {AppsV1Api} from '@kubernetes/client-node'
import {startControlPlane} from '../../../lib/lab/index.js'
import {startOperator} from '../../../runtime/operator/server.js'
import {renderPlan, loadPlan} from '../../../lib/plan/io.js'
import type {MigrationPlan} from '../../../lib/plan/types.generated.js'
import {clusterFingerprint} from '../../../lib/kube/fingerprint.js'
import {createFixture, templates, type Fixture} from './fixtures.js'

const cp = await startControlPlane()
t.teardown(() => cp.stop())
const kc = cp.kubeConfig
const {uid: fingerprint} = await clusterFingerprint(kc)
const dir = mkdtempSync(join(tmpdir(), 'cloudtaser-protect-'))
t.teardown(() => rmSync(dir, {recursive: true, force: true}))
const env = {...process.env, KUBECONFIG: cp.kubeconfigPath, CLOUDTASER_ACTOR: 'tester@ci'}

const cli = (args: string[]) => spawnSync(process.execPath, ['bin/run.js', ...args], {env, encoding: 'utf8'})

const REVIEWED = '# Reviewed by security in SEC-1 (this comment must survive protect)\n'
const writePlan = (name: string, plan: MigrationPlan): string => {
  const file = join(dir, name)
  writeFileSync(file, REVIEWED + renderPlan(plan))
  return file
}

/**
 * Plan and templates with run-specific values (namespace prefix, timestamps) removed. The prefix
 * only where a name starts: the cluster fingerprint, a UUID, can hold "f-" (a group ending in f).
 */
const normalize = (text: string, prefix: string): string =>
  text.replace(new RegExp(`(?<![0-9a-z])${prefix}`, 'g'), 'NS-').replace(/\bat: \S+/g, 'at: T')

t.test('protect --yes: annotations, references removed, new ReplicaSets, statuses, comments', async (t) => {
  const fx = await createFixture(kc, ['p-shop', 'p-billing', 'p-search'], 4, fingerprint)
  const before = await templates(kc, fx)
  const file = writePlan('plan.yaml', fx.plan)

  const dry = cli(['target', 'protect', '--plan', file, '--dry-run', '--json'])
  t.equal(dry.status, 0, dry.stderr)
  t.equal(JSON.parse(dry.stdout).processed.filter((o: {outcome: string}) => o.outcome === 'would-protect').length, 12)
  t.same(await templates(kc, fx), before, 'dry-run changes nothing in the cluster')

  const r = cli(['target', 'protect', '--plan', file, '--yes', '--wait', '--timeout', '60s'])
  t.equal(r.status, 0, r.stderr)
  t.match(r.stdout, /\[12\/12\] migrated/)

  const after = await templates(kc, fx)
  for (const [key, {template, generation}] of Object.entries(after)) {
    const tpl = template as {metadata: {annotations: Record<string, string>; labels: Record<string, string>}; spec: {containers: Array<{env?: Array<{valueFrom?: unknown}>; envFrom?: unknown[]}>}}
    t.equal(tpl.metadata.annotations['cloudtaser.io/inject'], 'true', `${key} annotated`)
    t.equal(tpl.metadata.labels['cloudtaser.io/inject'], 'true', `${key} labelled`)
    t.notOk(JSON.stringify(tpl.spec).includes('secretKeyRef') || JSON.stringify(tpl.spec).includes('secretRef'), `${key} no longer reads its Secrets`)
    t.equal(generation, (before[key]!.generation ?? 0) + 1, `${key} patched exactly once`)
  }
  const apps = kc.makeApiClient(AppsV1Api)
  const rs = await apps.listNamespacedReplicaSet({namespace: 'p-shop'})
  const injected = rs.items.filter((x) => x.spec?.template?.metadata?.annotations?.['cloudtaser.io/inject'] === 'true')
  t.equal(injected.length, 2, 'the Deployment controller created a new ReplicaSet for each Deployment')

  const text = readFileSync(file, 'utf8')
  t.ok(text.startsWith(REVIEWED), 'reviewers\' comment kept')
  const plan = (await loadPlan(file)).plan
  const states = plan.tenants.flatMap((x) => x.workloads.map((w) => w.status))
  t.ok(states.every((s) => s.state === 'migrated' && s.by === 'tester@ci' && s.at), 'every workload migrated, with who and when')
  t.ok(plan.tenants[0]!.workloads[0]!.secrets[0]!.references?.length, 'original references recorded in the plan')

  const again = cli(['target', 'protect', '--plan', file, '--yes', '--json'])
  t.equal(again.status, 0)
  t.match(JSON.parse(again.stdout), {processed: [], alreadyDone: 12}, 'a re-run skips migrated workloads')
  t.same(await templates(kc, fx), after, 'and changes nothing')

  // unprotect rolls production workloads: without a terminal it needs --yes (or --dry-run).
  const refused = cli(['target', 'unprotect', '--plan', file])
  t.equal(refused.status, 2, 'unprotect without --yes, --interactive or --dry-run is refused')
  t.match(refused.stderr, /Error \[USAGE\]: choose --interactive.*\nHint: .*--yes in scripts and CI/)
  const noTerminal = cli(['target', 'unprotect', '--plan', file, '--interactive', '--json'])
  t.match({status: noTerminal.status, out: JSON.parse(noTerminal.stdout)}, {status: 2, out: {error: {code: 'USAGE', message: /needs a terminal/, hint: /--yes/}}}, '--interactive without a terminal is refused')
  t.same(await templates(kc, fx), after, 'refusals change nothing')
  const dryUn = cli(['target', 'unprotect', '--plan', file, '--dry-run', '--json'])
  t.equal(JSON.parse(dryUn.stdout).processed.filter((o: {outcome: string}) => o.outcome === 'would-restore').length, 12, 'unprotect --dry-run')
  const un = cli(['target', 'unprotect', '--plan', file, '--yes'])
  t.equal(un.status, 0, un.stderr)
  const restored = await templates(kc, fx)
  for (const key of Object.keys(before)) t.same(restored[key]!.template, before[key]!.template, `${key} restored exactly`)
  t.ok((await loadPlan(file)).plan.tenants.every((x) => x.workloads.every((w) => w.status.state === 'pending')), 'unprotect sets pending')
})

t.test('refuses a plan for another cluster', async (t) => {
  const fx: Fixture = {namespaces: [], plan: {apiVersion: 'cloudtaser.io/v1', kind: 'MigrationPlan', metadata: {name: 'x', cluster: {name: 'other', fingerprint: '00000000-0000-4000-8000-000000000000'}}, tenants: []}}
  const file = writePlan('other.yaml', fx.plan)
  const r = cli(['target', 'protect', '--plan', file, '--yes', '--json'])
  t.equal(r.status, 6)
  t.match(JSON.parse(r.stdout), {error: {code: 'PROTECT_WRONG_CLUSTER'}})
})

t.test('a second protect is refused while the first holds the lease, naming the holder', async (t) => {
  const fx = await createFixture(kc, ['l-one'], 1, fingerprint)
  const file = writePlan('lease.yaml', fx.plan)
  const {acquireLease} = await import('../../../lib/protect/lease.js')
  const held = await acquireLease(kc, {holder: 'alice on elsewhere pid 1'})
  const r = cli(['target', 'protect', '--plan', file, '--yes', '--json'])
  await held.release()
  t.equal(r.status, 6)
  t.match(JSON.parse(r.stdout), {error: {code: 'PROTECT_LOCKED', message: /alice on elsewhere pid 1/}})
})

t.test('kill -9 at 20 random points, re-run until done: same result as an uninterrupted run', async (t) => {
  const clean = await createFixture(kc, ['u-a', 'u-b'], 5, fingerprint)
  const faulty = await createFixture(kc, ['f-a', 'f-b'], 5, fingerprint)
  const cleanFile = writePlan('clean.yaml', clean.plan)
  const faultyFile = writePlan('faulty.yaml', faulty.plan)

  const started = Date.now()
  t.equal(cli(['target', 'protect', '--plan', cleanFile, '--yes']).status, 0)
  const span = Date.now() - started

  // Deterministic "random" kill points spread over a whole run, start-up included.
  let seed = 42
  const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
  let kills = 0
  for (let i = 0; i < 20; i++) {
    const child = spawn(process.execPath, ['bin/run.js', 'target', 'protect', '--plan', faultyFile, '--yes'], {env, stdio: 'ignore'})
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    const timer = setTimeout(() => child.kill('SIGKILL'), Math.floor(random() * span))
    const code = await exited
    clearTimeout(timer)
    if (code === null) kills++
  }
  t.ok(kills >= 10, `most runs were killed mid-way (${kills}/20)`)
  const final = cli(['target', 'protect', '--plan', faultyFile, '--yes'])
  t.equal(final.status, 0, final.stderr)

  t.equal(normalize(readFileSync(faultyFile, 'utf8'), 'f-'), normalize(readFileSync(cleanFile, 'utf8'), 'u-'), 'same plan')
  const a = await templates(kc, clean)
  const b = await templates(kc, faulty)
  t.equal(normalize(JSON.stringify(b), 'f-'), normalize(JSON.stringify(a), 'u-'), 'same cluster state, each workload patched exactly once')
})

/** Runs a command on a real terminal (`script`), answering each distinct prompt matched by `asked` in turn. */
async function onTerminal(command: string, asked: RegExp, answers: string[]): Promise<{code: number | null; out: string}> {
  const child = spawn('script', ['-qfec', `${process.execPath} bin/run.js ${command}`, '/dev/null'], {env: {...env, TERM: 'xterm'}})
  let out = ''
  let prompts = 0
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString()
    // Prompts are redrawn on every key press: count distinct workloads asked about.
    const seen = new Set([...out.matchAll(asked)].map((m) => m[1])).size
    while (prompts < seen && prompts < answers.length) child.stdin.write(answers[prompts++]!)
  })
  const guard = setTimeout(() => child.kill('SIGKILL'), 90_000)
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  clearTimeout(guard)
  return {code, out}
}

t.test('interactive through a pseudo-terminal: skip one, approve the rest; unprotect asks the same way', async (t) => {
  const fx = await createFixture(kc, ['i-shop'], 3, fingerprint)
  const file = writePlan('interactive.yaml', fx.plan)
  const APPROVE = '\r'
  const SKIP = '\x1b[B\r'
  const states = async () => (await loadPlan(file)).plan.tenants[0]!.workloads.map((w) => [w.name, w.status.state])
  const protectRun = await onTerminal(`target protect --plan ${file} --interactive`, /Protect (?:Deployment|StatefulSet|CronJob) (\S+)\?/g, [APPROVE, SKIP, APPROVE])
  t.equal(protectRun.code, 0, protectRun.out)
  t.same(await states(), [['svc-0', 'migrated'], ['svc-1', 'skipped'], ['svc-2', 'migrated']])

  // Asked only about the two migrated ones: keep svc-0 protected, restore svc-2.
  const unprotectRun = await onTerminal(`target unprotect --plan ${file} --interactive`, /Unprotect (?:Deployment|StatefulSet|CronJob) (\S+) /g, [SKIP, APPROVE])
  t.equal(unprotectRun.code, 0, unprotectRun.out)
  t.match(unprotectRun.out, /skipped: \S+ \S+\/svc-0[\s\S]*restored: \S+ \S+\/svc-2/)
  t.same(await states(), [['svc-0', 'migrated'], ['svc-1', 'skipped'], ['svc-2', 'pending']])
})

t.test('--wait fails at once, with the cluster\'s reason, when the new Pods cannot be created', async (t) => {
  const fx = await createFixture(kc, ['w-deny'], 1, fingerprint)
  // One replica of a container without command whose image no registry serves: the webhook
  // cannot learn what to start, so it denies every Pod of the new ReplicaSet.
  const apps = kc.makeApiClient(AppsV1Api)
  await apps.patchNamespacedDeployment({name: 'svc-0', namespace: 'w-deny', body: [{op: 'replace', path: '/spec/replicas', value: 1}, {op: 'remove', path: '/spec/template/spec/containers/0/command'}]})
  const op = await startOperator({
    mutation: {wrapperImage: 'registry.example.eu/wrapper:1', wrapperSource: '/cloudtaser-wrapper'},
    host: '127.0.0.1',
    port: 0,
    register: true,
    kubeConfig: kc,
    failurePolicy: 'Fail',
    timeoutSeconds: 5,
    excludeNamespaces: ['kube-system'],
    log: () => undefined,
  })
  t.teardown(() => op.close())
  const file = writePlan('deny.yaml', fx.plan)
  const started = Date.now()
  // Not spawnSync: the operator answers admission from this process's event loop.
  const child = spawn(process.execPath, ['bin/run.js', 'target', 'protect', '--plan', file, '--yes', '--wait', '--timeout', '120s'], {env})
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => (stdout += c))
  child.stderr.on('data', (c: Buffer) => (stderr += c))
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve))
  const r = {status, stdout, stderr}
  t.equal(r.status, 1, r.stderr)
  t.ok(Date.now() - started < 60_000, `failed without waiting for the timeout (${Date.now() - started} ms)`)
  t.match(r.stdout, /FAILED: Deployment w-deny\/svc-0/)
  const recorded = (await loadPlan(file)).plan.tenants[0]!.workloads[0]!.status
  t.equal(recorded.state, 'failed')
  t.match(recorded.reason, /FailedCreate/)
  t.match(recorded.reason, /has no command and the image entrypoint is unknown/, 'the webhook\'s own words reach the plan')
})
