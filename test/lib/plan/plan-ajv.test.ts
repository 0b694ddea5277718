// The quick validators `npm run build` writes as code (plan-ajv.ts) must accept and refuse exactly
// what the validators compiled at run time do, on the repository's plans and on random mutations.
import t from 'tap'
import {readdirSync, readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {join} from 'node:path'
import jsyaml from 'js-yaml'
import {compileQuickValidators, planAjv, planSchemaSha256, planSchemaText, validatorModuleSource, type BuiltValidatorModule, freeTextShape} from '../../../lib/plan/plan-ajv.js'

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
  }
  t.ok(refused > 1000, `${refused} of 4000 mutations refused by both`)
})
