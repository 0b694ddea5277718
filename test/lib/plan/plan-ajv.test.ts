// The quick validators `npm run build` writes as code (plan-ajv.ts) must accept and refuse exactly
// what the validators compiled at run time do, on the repository's plans and on random mutations;
// and a plan must be valid exactly when its workloads are valid one by one and the rest of it is
// valid, which lets discover check each workload as it builds it (prepared.ts).
import t from 'tap'
import {readdirSync, readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {join} from 'node:path'
import jsyaml from 'js-yaml'
import {compileQuickValidators, planAjv, planSchemaSha256, planSchemaText, validatorModuleSource, type BuiltValidatorModule, freeTextShape} from '../../../lib/plan/plan-ajv.js'
import {PreparedWorkloads} from '../../../lib/plan/prepared.js'
import type {MigrationPlan} from '../../../lib/plan/types.generated.js'
import {isValidWorkload, validatePlan} from '../../../lib/plan/validate.js'

const root = new URL('../../../', import.meta.url).pathname
const built = (): BuiltValidatorModule => {
  const module = {exports: {}} as {exports: BuiltValidatorModule}
  new Function('exports', 'require', 'module', validatorModuleSource())(module.exports, createRequire(import.meta.url), module)
  return module.exports
}
const mod = built()
const generated = mod.create(freeTextShape)
const compiled = compileQuickValidators()
const thorough = planAjv('thorough').compile(JSON.parse(planSchemaText()))

const plans = [
  join(root, 'test/fixtures/discover/golden-plan.yaml'),
  join(root, 'test/fixtures/plans/commented.yaml'),
  ...readdirSync(join(root, 'examples/plans')).filter((f) => f.endsWith('.yaml')).map((f) => join(root, 'examples/plans', f)),
  ...readdirSync(join(root, 'examples/plans/invalid')).filter((f) => f.endsWith('.yaml') && f !== 'yaml-syntax.yaml').map((f) => join(root, 'examples/plans/invalid', f)),
].map((file) => ({file: file.slice(root.length), plan: jsyaml.load(readFileSync(file, 'utf8'), {schema: jsyaml.CORE_SCHEMA})}))

t.test('the built module carries the hash of the schema it was made from', async (t) => {
  t.equal(mod.schemaSha256, planSchemaSha256())
})

t.test('the repository\'s plans: the same verdict', async (t) => {
  for (const {file, plan} of plans) {
    const expected = compiled.plan(plan)
    t.equal(generated.plan(plan), expected, `${file}: ${expected ? 'valid' : 'invalid'}`)
    t.equal(thorough(plan), expected)
    for (const w of (plan as MigrationPlan).tenants?.flatMap((x) => x.workloads ?? []) ?? []) t.equal(generated.workload(w), compiled.workload(w))
  }
  t.ok(plans.some(({plan}) => compiled.plan(plan)) && plans.some(({plan}) => !compiled.plan(plan)), 'both valid and invalid plans were checked')
})

function random(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let x = Math.imul(s ^ (s >>> 15), 1 | s)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32
  }
}

const VALUES: unknown[] = ['', 'x', 'UPPER', 'a b', 'secret/data/x', '/etc', 'aB3'.repeat(14), `ghp_${'a'.repeat(36)}`, '-----BEGIN PRIVATE KEY-----', '2026-11-23T00:00:00Z', 'not a date',
  'x'.repeat(300), 0, -1, 2.5, 3, true, false, null, {}, [], [{}], {value: 'v'}, {data: {}}]

t.test('random mutations of valid plans: the same verdict', async (t) => {
  const valid = plans.filter(({plan}) => compiled.plan(plan)).map(({plan}) => plan)
  let refused = 0
  let splitChecked = 0
  for (let seed = 1; seed <= 4000; seed++) {
    const rnd = random(seed)
    const plan = structuredClone(valid[seed % valid.length]) as Record<string, unknown>
    // Walk to a random object, then change, delete or add one of its keys.
    let node: Record<string, unknown> = plan
    for (let depth = 0; depth < 8; depth++) {
      const children = Object.values(node).filter((v): v is Record<string, unknown> => typeof v === 'object' && v !== null)
      if (children.length === 0 || rnd() < 0.15) break
      node = children[Math.floor(rnd() * children.length)]!
    }
    const keys = Object.keys(node)
    const key = rnd() < 0.15 || keys.length === 0 ? 'unexpected' : keys[Math.floor(rnd() * keys.length)]!
    if (rnd() < 0.1) delete node[key]
    else node[key] = structuredClone(VALUES[Math.floor(rnd() * VALUES.length)])
    const expected = compiled.plan(plan)
    if (generated.plan(plan) !== expected || thorough(plan) !== expected) {
      t.fail(`seed ${seed}`, {plan})
      return
    }
    if (!expected) refused++
    // The split discover relies on: whole plan valid <=> the rest valid and every workload valid.
    const p = plan as unknown as MigrationPlan
    if (Array.isArray(p.tenants) && p.tenants.every((x) => x && Array.isArray(x.workloads))) {
      const prepared = new PreparedWorkloads()
      // Not flatMap: a hole a mutation leaves in an array must be checked too.
      const workloads = p.tenants.flatMap((x) => Array.from(x.workloads))
      for (const w of workloads) {
        if (generated.workload(w) !== compiled.workload(w)) t.fail(`seed ${seed}: workload verdicts differ`)
        prepared.add(w)
      }
      const whole = validatePlan(p).length === 0
      const split = validatePlan(prepared.rest(p)).length === 0 && workloads.every((w) => isValidWorkload(w))
      if (whole !== split) {
        t.fail(`seed ${seed}: whole plan ${whole}, split ${split}`, {plan})
        return
      }
      splitChecked++
    }
  }
  t.ok(refused > 1000, `${refused} of 4000 mutations refused by both`)
  t.ok(splitChecked > 3000, `${splitChecked} mutations checked whole and split`)
})

t.test('the schema puts nothing on a tenant\'s workloads but the Workload schema of each', async (t) => {
  const schema = JSON.parse(planSchemaText()) as {$defs: Record<string, Record<string, unknown>>} & Record<string, unknown>
  const combinators = ['allOf', 'anyOf', 'oneOf', 'if', 'not', 'dependentSchemas', 'dependentRequired', 'unevaluatedProperties', 'unevaluatedItems']
  for (const [where, node] of [['plan', schema], ['Tenant', schema.$defs.Tenant!]] as const) {
    t.same(combinators.filter((k) => k in node), [], `${where}: no keyword that could look across its parts`)
  }
  const tenants = (schema.properties as Record<string, Record<string, unknown>>).tenants!
  t.same({type: tenants.type, items: tenants.items}, {type: 'array', items: {$ref: '#/$defs/Tenant'}})
  const {description: _d, ...workloads} = (schema.$defs.Tenant!.properties as Record<string, Record<string, unknown>>).workloads!
  t.same(workloads, {type: 'array', items: {$ref: '#/$defs/Workload'}})
})
