#!/usr/bin/env node
// apply-plan and verify-plan on a 1,000-workload plan against a real OpenBao (the lab's dev
// server): wall time and HTTP requests counted by the client itself, at concurrency 1 and 8.
// Baseline, same run, same server: the same number of bare GETs of sys/health with the same
// concurrency, i.e. what the HTTP round trips alone cost.
// Run after `npm run build`: node bench/openbao-plan.mjs   (WORKLOADS=1000 TENANTS=100)
import {startOpenBao} from '../dist/lib/lab/index.js'
import {OpenBaoClient} from '../dist/lib/openbao/client.js'
import {resolveConnection} from '../dist/lib/openbao/config.js'
import {applyPlan} from '../dist/lib/openbao/apply-plan.js'
import {verifyPlan} from '../dist/lib/openbao/verify-plan.js'
import {mapBounded} from '../dist/lib/bounded.js'
import {renderPlan} from '../dist/lib/plan/io.js'
import {spawnSync} from 'node:child_process'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

const WORKLOADS = Number(process.env.WORKLOADS ?? 1000)
const TENANTS = Number(process.env.TENANTS ?? 100)

/** Per tenant: one shared database secret, and per workload its own secret with two fields and an envFrom secret. */
function bigPlan() {
  const tenants = []
  for (let t = 0; t < TENANTS; t++) {
    const ns = `team-${t}`
    const workloads = []
    for (let w = 0; w < WORKLOADS / TENANTS; w++) {
      workloads.push({
        kind: 'Deployment',
        name: `svc-${w}`,
        serviceAccount: `svc-${w % 3}`,
        secrets: [
          {source: {name: 'db'}, vaultPath: `secret/data/bench/${ns}/db`, fields: {password: 'DB_PASSWORD'}},
          {source: {name: `svc-${w}`}, vaultPath: `secret/data/bench/${ns}/svc-${w}`, fields: {api_key: 'API_KEY', client_id: 'CLIENT_ID'}},
          {source: {name: `svc-${w}-env`}, vaultPath: `secret/data/bench/${ns}/svc-${w}-env`, envFrom: {}},
        ],
        status: {state: 'pending'},
      })
    }
    tenants.push({name: ns, namespace: ns, workloads})
  }
  return {apiVersion: 'cloudtaser.io/v1', kind: 'MigrationPlan', metadata: {name: 'bench'}, openbao: {kvMount: 'secret', authMount: 'kubernetes'}, tenants}
}

const bao = await startOpenBao()
const client = () => new OpenBaoClient(resolveConnection({'openbao-addr': bao.addr, token: bao.token}, {}, '/nonexistent'))
const rows = []
const measure = async (name, concurrency, fn) => {
  const c = client()
  const t0 = performance.now()
  const result = await fn(c)
  const ms = performance.now() - t0
  rows.push({step: name, concurrency, ms: Math.round(ms), requests: c.stats.requests, retries: c.stats.retries, ...(result ?? {})})
  await c.close()
  return result
}
try {
  const setup = client()
  await setup.write('sys/auth/kubernetes', {type: 'kubernetes'})
  const plan = bigPlan()
  const paths = [...new Set(plan.tenants.flatMap((t) => t.workloads.flatMap((w) => w.secrets.map((s) => s.vaultPath))))]
  // Values are written outside the measurement (the operator does this with the bao CLI).
  await mapBounded(paths, 16, (p) => setup.write(p, {data: {password: 'x', api_key: 'x', client_id: 'x'}}))
  await setup.close()

  for (const concurrency of [1, 8]) {
    await measure('baseline: GET sys/health x N', concurrency, async (c) => {
      await mapBounded(Array.from({length: paths.length}), concurrency, () => c.call('GET', 'sys/health'))
    })
    // Fresh names per round so the first apply always creates.
    const p = structuredClone(plan)
    p.metadata.name = `bench-c${concurrency}`
    for (const t of p.tenants) t.policy = t.role = `${t.name}-c${concurrency}`
    await measure('apply-plan (create)', concurrency, async (c) => ({summary: JSON.stringify((await applyPlan(c, p, {concurrency})).summary)}))
    await measure('apply-plan (unchanged)', concurrency, async (c) => ({summary: JSON.stringify((await applyPlan(c, p, {concurrency})).summary)}))
    await measure('apply-plan --dry-run', concurrency, async (c) => ({summary: JSON.stringify((await applyPlan(c, p, {concurrency, dryRun: true})).summary)}))
    await measure('verify-plan', concurrency, async (c) => {
      const r = await verifyPlan(c, p, {concurrency})
      return {summary: `${r.secrets.length} secrets, ok=${r.ok}`}
    })
  }
  // The CLI end to end (process start, plan load and validation, OpenBao), as an operator runs it.
  const file = join(mkdtempSync(join(tmpdir(), 'ct-bench-')), 'plan.yaml')
  writeFileSync(file, renderPlan(plan))
  const env = {...process.env, BAO_ADDR: bao.addr, BAO_TOKEN: bao.token}
  for (const args of [['--version'], ['source', 'apply-plan', file, '--json'], ['source', 'apply-plan', file, '--json'], ['source', 'verify-plan', file, '--json']]) {
    const t0 = performance.now()
    const r = spawnSync(process.execPath, ['bin/run.js', ...args], {env, encoding: 'utf8', maxBuffer: 256 << 20})
    const ms = Math.round(performance.now() - t0)
    const out = args[0] === '--version' ? {} : JSON.parse(r.stdout)
    rows.push({
      step: `CLI: cloudtaser ${args.slice(0, 2).join(' ')}${args[0] === '--version' ? ' (process start baseline)' : ''}`,
      concurrency: 8,
      ms,
      requests: out.requests?.requests,
      retries: out.requests?.retries,
      summary: out.summary ? JSON.stringify(out.summary) : out.secrets ? `${out.secrets.length} secrets, ok=${out.ok}` : `exit ${r.status}`,
    })
  }
  console.log(`OpenBao ${bao.addr} (dev, in-memory); plan: ${WORKLOADS} workloads in ${TENANTS} tenants, ${paths.length} distinct secret paths`)
  console.table(rows)
} finally {
  await bao.stop()
}
