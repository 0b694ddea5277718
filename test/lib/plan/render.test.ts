// render.ts must write exactly what js-yaml's dump writes: on every plan in the repository, on
// random documents built to hit every quoting rule, and on random plans made by discover's
// transform, which must also load back through io.ts unchanged. A key the schema does not know
// is refused before anything is written, never dropped.
import t from 'tap'
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import jsyaml from 'js-yaml'
import {DEFAULT_PATH_TEMPLATE, PlanBuilder, type DiscoverOptions, type Observed} from '../../../lib/discover/transform.js'
import type {LiveWorkload} from '../../../lib/kube/pod-template.js'
import {parsePlan, renderPlan, writeNewPlan} from '../../../lib/plan/io.js'
import {DUMP_OPTIONS, renderYaml, renderYamlBytes} from '../../../lib/plan/render.js'
import type {WorkloadKind} from '../../../lib/plan/types.generated.js'
import {validatePlan} from '../../../lib/plan/validate.js'

const root = new URL('../../../', import.meta.url).pathname
const dump = (value: unknown): string => jsyaml.dump(value, DUMP_OPTIONS)

/** Deterministic, so a failure names a seed that reproduces it. */
function random(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let x = Math.imul(s ^ (s >>> 15), 1 | s)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32
  }
}

t.test('every plan in the repository renders as js-yaml renders it', async (t) => {
  const files = [
    join(root, 'test/fixtures/discover/golden-plan.yaml'),
    join(root, 'test/fixtures/plans/commented.yaml'),
    ...readdirSync(join(root, 'examples/plans')).filter((f) => f.endsWith('.yaml')).map((f) => join(root, 'examples/plans', f)),
    ...readdirSync(join(root, 'examples/plans/invalid')).filter((f) => f.endsWith('.yaml') && f !== 'yaml-syntax.yaml').map((f) => join(root, 'examples/plans/invalid', f)),
  ]
  for (const file of files) {
    const value = jsyaml.load(readFileSync(file, 'utf8'), {schema: jsyaml.CORE_SCHEMA})
    t.equal(renderYaml(value), dump(value), file.slice(root.length))
  }
  const golden = readFileSync(join(root, 'test/fixtures/discover/golden-plan.yaml'), 'utf8')
  t.equal(renderPlan(jsyaml.load(golden, {schema: jsyaml.CORE_SCHEMA}) as never), golden, 'the golden plan, byte for byte')
})

// Pieces that hit js-yaml's rules: indicators first or last, ': ' and ' #', words the core
// schema reads as null, booleans or numbers, quotes, non-printable and non-ASCII characters.
const PIECES = ['a', 'Z', 'x9', '0', '7', '-', ':', ': ', ' #', '#', '?', ',', '[', ']', '{', '}', '&', '*', '!', '|', '>', "'", '"', '%', '@', '`', ' ', '\t', '.', '/', '_', '~',
  'true', 'False', 'NULL', 'null', 'yes', 'on', '0x1F', '0o17', '1e3', '1_000', '.inf', '-.INF', '.NaN', '12:30', '2026-11-23', 'é', '日本', '😀', '\u2028', '\u0085', '\x07', '\ufeff', '\n']

function text(rnd: () => number, multiline: boolean): string {
  if (rnd() < 0.05) return ''
  let s = ''
  const n = 1 + Math.floor(rnd() * 4)
  for (let i = 0; i < n; i++) {
    const p = PIECES[Math.floor(rnd() * PIECES.length)]!
    s += p === '\n' && !multiline ? 'n' : p
  }
  return s
}

function scalar(rnd: () => number, multiline: boolean): unknown {
  const r = rnd()
  if (r < 0.6) return text(rnd, multiline)
  if (r < 0.7) return Math.floor(rnd() * 2000) - 1000
  if (r < 0.75) return [0.5, -0, NaN, Infinity, -Infinity, 1e21, 2 ** 53 + 2][Math.floor(rnd() * 7)]
  if (r < 0.85) return rnd() < 0.5
  if (r < 0.92) return null
  return undefined
}

function doc(rnd: () => number, depth: number, multiline: boolean): unknown {
  const r = rnd()
  if (depth > 4 || r < 0.35) return scalar(rnd, multiline)
  const n = Math.floor(rnd() * 4)
  if (r < 0.65) return Array.from({length: n}, () => doc(rnd, depth + 1, multiline))
  const out: Record<string, unknown> = {}
  for (let i = 0; i < n; i++) out[rnd() < 0.5 ? ['name', 'kind', 'fields', 'items'][Math.floor(rnd() * 4)]! : text(rnd, multiline)] = doc(rnd, depth + 1, multiline)
  return out
}

t.test('random documents: the same bytes as js-yaml', async (t) => {
  let checked = 0
  for (let seed = 1; seed <= 3000; seed++) {
    const rnd = random(seed)
    // Mostly single-line text (the fast path); some multi-line text (handed to js-yaml whole).
    const value = {root: doc(rnd, 0, seed % 10 === 0), list: [doc(rnd, 1, false), doc(rnd, 1, false)]}
    const expected = dump(value)
    if (renderYaml(value) !== expected) {
      t.fail(`seed ${seed}`, {found: renderYaml(value), wanted: expected})
      return
    }
    if (!renderYamlBytes(value).equals(Buffer.from(expected, 'utf8'))) t.fail(`bytes, seed ${seed}`)
    checked++
  }
  t.equal(checked, 3000)
})

t.test('what the fast writer leaves to js-yaml comes out as js-yaml writes it', async (t) => {
  const cases: unknown[] = [
    {note: 'line one\nline two\n', deeper: [{text: 'a\n  b'}]},
    {[`k${'x'.repeat(1100)}`]: 1},
    [],
    {},
    {a: [], b: {}, c: [[], [{}]], d: {e: undefined}, f: [undefined, null]},
    'top-level text',
  ]
  for (const value of cases) t.equal(renderYaml(value), dump(value))
  t.throws(() => renderYaml({when: new Date(0)}), /unacceptable kind/, 'a value YAML cannot hold is refused as js-yaml refuses it')
  t.throws(() => renderYaml({f: () => 1}), /unacceptable kind/)
})

const NAME = 'abcdefghijklmnopqrstuvwxyz0123456789'
function k8sName(rnd: () => number, dots = false): string {
  const n = 1 + Math.floor(rnd() * 12)
  let s = NAME[Math.floor(rnd() * 26)]!
  for (let i = 1; i < n; i++) s += rnd() < 0.1 ? (dots && rnd() < 0.5 ? '.' : '-') + NAME[Math.floor(rnd() * 36)] : NAME[Math.floor(rnd() * 36)]
  return s
}
const KEYS = ['password', 'tls.crt', '.dockerconfigjson', 'api_key', 'KEY-1', '0', 'true', 'null', 'user.name', 'ssh-privatekey']
const ENVS = ['DB_PASSWORD', 'A', '_X', 'null', 'TRUE', 'no', 'api.key', 'PATH-ish', 'MY VAR']
const IMAGES = ['app:1', 'registry.example.eu/team/app:1.4.2', 'app@sha256:0123456789abcdef', 'localhost:5000/app', '1234.dkr.ecr.eu-west-1.amazonaws.com/app:latest']

function randomCluster(rnd: () => number): Observed {
  const namespaces = Array.from({length: 1 + Math.floor(rnd() * 3)}, () => k8sName(rnd))
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!
  const secretNames = Array.from({length: 4}, () => k8sName(rnd, true))
  const container = (name: string) => ({
    name,
    ...(rnd() < 0.9 ? {image: pick(IMAGES)} : {}),
    env: Array.from({length: Math.floor(rnd() * 4)}, () =>
      rnd() < 0.7 ? {name: pick(ENVS), valueFrom: {secretKeyRef: {name: pick(secretNames), key: pick(KEYS), ...(rnd() < 0.3 ? {optional: rnd() < 0.5} : {})}}} : {name: pick(ENVS), value: 'v'},
    ),
    ...(rnd() < 0.3 ? {envFrom: [{...(rnd() < 0.5 ? {prefix: 'P_'} : {}), secretRef: {name: pick(secretNames), ...(rnd() < 0.3 ? {optional: true} : {})}}]} : {}),
    ...(rnd() < 0.3 ? {volumeMounts: [{name: 'v0', mountPath: pick(['/etc/tls', '/var/run/creds', '/a:b', '/with space'])}]} : {}),
  })
  const workloads: Observed['workloads'] = []
  for (let i = 0; i < 6; i++) {
    const kind = pick<WorkloadKind>(['Deployment', 'StatefulSet', 'DaemonSet', 'CronJob'])
    const spec = {
      ...(rnd() < 0.5 ? {serviceAccountName: k8sName(rnd)} : {}),
      ...(rnd() < 0.2 ? {initContainers: [container('init')]} : {}),
      containers: [container('app'), ...(rnd() < 0.3 ? [container('side')] : [])],
      ...(rnd() < 0.4
        ? {volumes: [rnd() < 0.5
          ? {name: 'v0', secret: {secretName: pick(secretNames), ...(rnd() < 0.5 ? {items: [{key: pick(KEYS), path: 'f.pem'}]} : {}), ...(rnd() < 0.3 ? {optional: true} : {})}}
          : {name: 'v0', projected: {sources: [{configMap: {name: 'c'}}, {secret: {name: pick(secretNames), ...(rnd() < 0.5 ? {items: [] as Array<{key: string; path: string}>} : {})}}, {secret: {name: pick(secretNames), optional: false}}]}}]}
        : {}),
    }
    const metadata = {name: k8sName(rnd, true), namespace: pick(namespaces)}
    const object: LiveWorkload = kind === 'CronJob' ? {metadata, spec: {jobTemplate: {spec: {template: {spec}}}}} : {metadata, spec: {...(rnd() < 0.7 ? {replicas: Math.floor(rnd() * 5)} : {}), template: {spec}} as LiveWorkload['spec']}
    workloads.push({kind, object})
  }
  const secrets = new Map(namespaces.flatMap((ns) => secretNames.filter(() => rnd() < 0.6).map((s): [string, string] => [`${ns}/${s}`, ''])))
  return {clusterName: k8sName(rnd), fingerprint: '0f6a4a36-4cf3-4d93-9f0b-5e2d8f6e1c2a', server: 'https://127.0.0.1:6443', namespaces, workloads, jobs: [], pods: [], secrets}
}

t.test('random plans from the transform: js-yaml bytes; they load back through io.ts unchanged', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cloudtaser-render-'))
  t.teardown(() => rmSync(dir, {recursive: true, force: true}))
  let valid = 0
  let refused = 0
  for (let seed = 1; seed <= 300; seed++) {
    const rnd = random(seed)
    const observed = randomCluster(rnd)
    const options: DiscoverOptions = {
      mount: 'secret',
      pathTemplate: DEFAULT_PATH_TEMPLATE,
      createdAt: '2026-11-23T00:00:00Z',
      createdBy: rnd() < 0.5 ? 'alice@laptop' : 'Alice Example <alice@example.eu>',
      toolVersion: '0.1.0',
      ...(rnd() < 0.3 ? {vaultAddress: 'https://openbao.example.eu:8200'} : {}),
    }
    const builder = new PlanBuilder({clusterName: observed.clusterName, mount: 'secret', pathTemplate: DEFAULT_PATH_TEMPLATE})
    builder.secretsListed(observed.secrets)
    for (const {kind, object} of observed.workloads) builder.workload(kind, object)
    const {plan} = builder.finish(observed, options)
    const text = dump(plan)
    if (renderPlan(plan) !== text) {
      t.fail(`seed ${seed}`, {found: renderPlan(plan), wanted: text})
      return
    }
    const file = join(dir, `seed-${seed}.yaml`)
    const issues = validatePlan(plan)
    // Kubernetes takes env names with spaces, the schema does not: such plans are refused, never written.
    if (issues.length > 0) {
      const err = await writeNewPlan(file, plan).then(() => undefined, (e: {code?: string; details?: {issues?: unknown}}) => e)
      if (err?.code !== 'PLAN_WOULD_BE_INVALID' || JSON.stringify(err.details?.issues) !== JSON.stringify(issues)) t.fail(`seed ${seed}: not refused with the plan's issues`, {err})
      t.notOk(existsSync(file), `seed ${seed}: nothing written`)
      refused++
      continue
    }
    await writeNewPlan(file, plan)
    if (readFileSync(file, 'utf8') !== text) t.fail(`seed ${seed}: the file differs`)
    valid++
    const loaded = parsePlan(text, `seed-${seed}.yaml`)
    if (JSON.stringify(loaded.plan) !== JSON.stringify(plan)) t.fail(`seed ${seed}: the plan read back differs`)
  }
  // The schema now takes every env name Kubernetes takes, so random names rarely make a plan invalid;
  // refusal of an invalid plan is tested on its own (writeNewPlan refuses an unknown key).
  t.ok(valid > 250, `${valid} of 300 random plans written and read back identical, ${refused} refused`)
})

t.test('no field is dropped: the writer writes every key, and a key the schema does not know is refused before writing', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cloudtaser-render-'))
  t.teardown(() => rmSync(dir, {recursive: true, force: true}))
  const golden = jsyaml.load(readFileSync(join(root, 'examples/plans/multi-tenant.yaml'), 'utf8'), {schema: jsyaml.CORE_SCHEMA}) as Parameters<typeof writeNewPlan>[1]
  const plan = structuredClone(golden)
  const workload = plan.tenants[0]!.workloads[0]! as unknown as Record<string, unknown>
  workload.futureField = {names: ['A', 'B']}
  t.same(jsyaml.load(renderPlan(plan), {schema: jsyaml.CORE_SCHEMA}), plan, 'an unknown key is written like any other (the writer knows no keys)')
  const file = join(dir, 'plan.yaml')
  await t.rejects(writeNewPlan(file, plan), {code: 'PLAN_WOULD_BE_INVALID', message: /futureField/}, 'writeNewPlan validates first and refuses it')
  t.notOk(existsSync(file), 'nothing written')
  await writeNewPlan(file, golden)
  t.same(jsyaml.load(readFileSync(file, 'utf8'), {schema: jsyaml.CORE_SCHEMA}), golden, 'a valid plan reads back identical')
})
