import t from 'tap'
import {spawnSync} from 'node:child_process'
import {mkdtempSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {checkPlanText, loadPlan, parsePlan, renderPlan, savePlan, writeNewPlan} from '../../../lib/plan/io.js'
import type {MigrationPlan} from '../../../lib/plan/types.generated.js'

const fixture = new URL('../../fixtures/plans/commented.yaml', import.meta.url)
const original = readFileSync(fixture, 'utf8')

const tempPlan = (text = original): string => {
  const dir = mkdtempSync(join(tmpdir(), 'cloudtaser-io-'))
  t.teardown(() => spawnSync('rm', ['-rf', dir]))
  const file = join(dir, 'plan.yaml')
  writeFileSync(file, text)
  return file
}

const withStatus = (plan: MigrationPlan, name: string, status: MigrationPlan['tenants'][0]['workloads'][0]['status']): MigrationPlan => {
  const next = structuredClone(plan)
  for (const tenant of next.tenants) for (const w of tenant.workloads) if (w.name === name) w.status = status
  return next
}

t.test('changing one status leaves every other byte of a commented plan unchanged', async (t) => {
  const file = tempPlan()
  const loaded = await loadPlan(file)
  await savePlan(loaded, withStatus(loaded.plan, 'api', {state: 'migrated'}))
  const after = readFileSync(file, 'utf8')
  const expected = original.replace('state: pending   # <- protect flips this', 'state: migrated   # <- protect flips this')
  t.not(expected, original, 'the fixture has the line we change')
  t.equal(after, expected)
})

t.test('adding status fields inserts lines and keeps comments, order and quoting elsewhere', async (t) => {
  const file = tempPlan()
  const loaded = await loadPlan(file)
  await savePlan(
    loaded,
    withStatus(loaded.plan, 'ledger', {state: 'failed', at: '2026-11-22T10:00:00Z', by: 'alice@laptop', reason: 'rollout timed out'}),
  )
  const before = original.split('\n')
  const after = readFileSync(file, 'utf8').split('\n')
  const added = after.filter((l) => !before.includes(l))
  t.same(added, ['          state: failed', '          at: 2026-11-22T10:00:00Z', '          by: alice@laptop', '          reason: rollout timed out'])
  const removed = before.filter((l) => !after.includes(l))
  t.same(removed, [])
  t.ok(after.includes('  createdAt: "2026-11-21T14:03:10Z"'), 'double quotes kept')
  t.ok(after.includes("  createdBy: 'platform-bot@ci-runner-7'"), 'single quotes kept')
})

t.test('a crash between write and rename leaves the previous plan intact', async (t) => {
  const file = tempPlan()
  const script = `
    import {loadPlan, savePlan} from ${JSON.stringify(new URL('../../../lib/plan/io.ts', import.meta.url).href)}
    const loaded = await loadPlan(${JSON.stringify(file)})
    const next = structuredClone(loaded.plan)
    next.tenants[0].workloads[0].status = {state: 'migrated'}
    await savePlan(loaded, next, {hooks: {beforeRename: () => process.kill(process.pid, 'SIGKILL')}})
  `
  const child = spawnSync(process.execPath, [...process.execArgv, '--input-type=module', '-e', script], {encoding: 'utf8'})
  t.equal(child.signal, 'SIGKILL', 'the writer died mid-save')
  t.equal(readFileSync(file, 'utf8'), original, 'the plan is byte-for-byte the previous one')
  const dir = join(file, '..')
  t.ok(readdirSync(dir).some((n) => n.startsWith('.plan.yaml.tmp-')), 'the half-done temp file is beside it')

  const loaded = await loadPlan(file)
  await savePlan(loaded, withStatus(loaded.plan, 'api', {state: 'skipped'}))
  t.same(readdirSync(dir), ['plan.yaml'], 'the next save removes the dead writer\'s temp file')
})

t.test('an invalid result is never written', async (t) => {
  const file = tempPlan()
  const loaded = await loadPlan(file)
  const bad = withStatus(loaded.plan, 'api', {state: 'failed'}) // failed needs a reason
  await t.rejects(savePlan(loaded, bad), {code: 'PLAN_WOULD_BE_INVALID'})
  t.equal(readFileSync(file, 'utf8'), original)
})

t.test('a plan edited on disk since it was loaded is not overwritten', async (t) => {
  const file = tempPlan()
  const loaded = await loadPlan(file)
  const edited = original.replace('# end of plan', '# end of plan (edited by a reviewer)')
  writeFileSync(file, edited)
  await t.rejects(savePlan(loaded, withStatus(loaded.plan, 'api', {state: 'migrated'})), {code: 'PLAN_CHANGED_ON_DISK'})
  t.equal(readFileSync(file, 'utf8'), edited, 'the reviewer\'s edit survives')
})

t.test('new plans render, reload and compare equal', async (t) => {
  const {plan} = parsePlan(original, 'commented.yaml')
  const file = join(tempPlan(), '..', 'new.yaml')
  const written = await writeNewPlan(file, plan)
  t.same(written.plan, plan)
  t.equal(readFileSync(file, 'utf8'), renderPlan(plan))
  t.equal(renderPlan(plan), renderPlan(parsePlan(renderPlan(plan), 'x').plan), 'rendering is stable')
})

t.test('errors carry file:line:col for YAML syntax and schema alike', async (t) => {
  const syntax = checkPlanText('apiVersion: cloudtaser.io/v1\nkind: [\n', 'broken.yaml')
  t.equal(syntax.ok, false)
  if (!syntax.ok) t.match(syntax.issues[0], {file: 'broken.yaml', line: 3, code: 'PLAN_YAML_SYNTAX'})

  const dup = checkPlanText('apiVersion: cloudtaser.io/v1\nkind: MigrationPlan\nkind: MigrationPlan\n', 'dup.yaml')
  t.equal(dup.ok, false, 'duplicate keys are refused rather than silently merged')

  const schema = original.replace('replicas: 3', 'replicas: three')
  const r = checkPlanText(schema, 'p.yaml')
  t.equal(r.ok, false)
  if (!r.ok) t.match(r.issues, [{line: 32, col: 19, code: 'PLAN_SCHEMA', message: /replicas must be integer/}])

  t.throws(() => parsePlan(schema, 'p.yaml'), {code: 'PLAN_SCHEMA', issues: [{line: 32}]})
  await t.rejects(loadPlan('/nonexistent/plan.yaml'), {code: 'PLAN_UNREADABLE', exitCode: 2})
})

t.test('an unknown apiVersion names the supported ones', async (t) => {
  const r = checkPlanText(original.replace('cloudtaser.io/v1 ', 'cloudtaser.io/v9 '), 'old.yaml')
  t.equal(r.ok, false)
  if (!r.ok) t.match(r.issues[0], {line: 5, col: 13, code: 'PLAN_VERSION', message: /reads cloudtaser\.io\/v1/})
  const notAMap = checkPlanText('- just\n- a list\n', 'list.yaml')
  t.equal(notAMap.ok, false)
})

t.test('consecutive saves reuse one parse and keep formatting each time', async (t) => {
  const file = tempPlan()
  let loaded = await loadPlan(file)
  for (const [name, state] of [['api', 'migrated'], ['ledger', 'skipped'], ['reindex', 'migrated']] as const) {
    loaded = await savePlan(loaded, withStatus(loaded.plan, name, {state, reason: state === 'skipped' ? 'window closed' : undefined}))
  }
  t.ok(loaded.cache.doc, 'the parsed document travels with the returned state')
  const after = readFileSync(file, 'utf8')
  const changed = after.split('\n').filter((l) => !original.split('\n').includes(l))
  t.same(changed, [
    '          state: migrated   # <- protect flips this',
    '          state: skipped',
    '          reason: window closed',
    '          state: migrated',
  ])
  t.same((await loadPlan(file)).plan, loaded.plan)
})
