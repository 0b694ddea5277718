#!/usr/bin/env node
// target migrate on 1,000 Kubernetes Secrets against the lab (real kube-apiserver and OpenBao):
// wall time and requests (Kubernetes and OpenBao, counted by the clients themselves), at
// concurrency 1 and 8. Baseline, same run, same servers, same concurrency: the bare copy, i.e.
// per Secret one GET from the apiserver and one KV v2 write, with no check-and-set, no read-back,
// no digest and no plan record; what moving the values costs at the least.
// Run after `npm run build`: node bench/migrate.mjs   (SECRETS=1000 NAMESPACES=10)
import {CoreV1Api} from '@kubernetes/client-node'
import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {mapBounded} from '../dist/lib/bounded.js'
import {clusterFingerprint} from '../dist/lib/kube/fingerprint.js'
import {kubeHttp} from '../dist/lib/kube/http.js'
import {startLab} from '../dist/lib/lab/index.js'
import {checkMigration} from '../dist/lib/migrate/check.js'
import {copySecrets} from '../dist/lib/migrate/copy.js'
import {OpenBaoClient} from '../dist/lib/openbao/client.js'
import {resolveConnection} from '../dist/lib/openbao/config.js'
import {loadPlan, renderPlan} from '../dist/lib/plan/io.js'

const SECRETS = Number(process.env.SECRETS ?? 1000)
const NAMESPACES = Number(process.env.NAMESPACES ?? 10)
const PER = SECRETS / NAMESPACES

const lab = await startLab()
const dir = mkdtempSync(join(tmpdir(), 'ct-bench-migrate-'))
const rows = []
try {
  const core = lab.kubeConfig.makeApiClient(CoreV1Api)
  const value = (n) => Buffer.from(`value-${n}-${'x'.repeat(40)}`).toString('base64')
  for (let i = 0; i < NAMESPACES; i++) {
    await core.createNamespace({body: {metadata: {name: `bench-${i}`}}})
    await mapBounded(Array.from({length: PER}, (_, j) => j), 16, (j) =>
      core.createNamespacedSecret({namespace: `bench-${i}`, body: {metadata: {name: `s-${j}`, labels: {app: `svc-${j}`}}, data: {username: value(`u${j}`), password: value(`p${j}`)}}}),
    )
  }
  const {uid} = await clusterFingerprint(lab.kubeConfig)
  /** One Deployment per Secret, reading both fields; `prefix` gives each round fresh KV paths. */
  const planFor = (prefix) => ({
    apiVersion: 'cloudtaser.io/v1',
    kind: 'MigrationPlan',
    metadata: {name: 'bench', cluster: {name: 'bench', fingerprint: uid}},
    openbao: {kvMount: 'secret'},
    tenants: Array.from({length: NAMESPACES}, (_, i) => ({
      name: `bench-${i}`,
      namespace: `bench-${i}`,
      workloads: Array.from({length: PER}, (_, j) => ({
        kind: 'Deployment',
        name: `svc-${j}`,
        secrets: [{source: {name: `s-${j}`}, vaultPath: `secret/data/${prefix}/bench-${i}/s-${j}`, fields: {username: 'DB_USER', password: 'DB_PASSWORD'}}],
        status: {state: 'pending'},
      })),
    })),
  })
  const bao = () => new OpenBaoClient(resolveConnection({'openbao-addr': lab.baoAddr, token: lab.baoToken}, {}, '/nonexistent'), {connections: 16})

  for (const concurrency of [1, 8]) {
    // Baseline: the bare copy.
    {
      const http = await kubeHttp(lab.kubeConfig, {maxSockets: Math.max(4, concurrency)})
      const c = bao()
      const units = Array.from({length: SECRETS}, (_, n) => ({ns: `bench-${Math.floor(n / PER)}`, name: `s-${n % PER}`}))
      const t0 = performance.now()
      await mapBounded(units, concurrency, async (u) => {
        const s = await http.get(`/api/v1/namespaces/${u.ns}/secrets/${u.name}`)
        const data = Object.fromEntries(Object.entries(s.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]))
        await c.write(`secret/data/bare-c${concurrency}/${u.ns}/${u.name}`, {data})
      })
      rows.push({step: 'baseline: bare GET + KV write', concurrency, ms: Math.round(performance.now() - t0), kubernetes: http.stats.requests, openbao: c.stats.requests, result: ''})
      await c.close()
    }
    const file = join(dir, `plan-c${concurrency}.yaml`)
    writeFileSync(file, renderPlan(planFor(`migrate-c${concurrency}`)))
    const run = async (step, fn) => {
      const c = bao()
      const http = await kubeHttp(lab.kubeConfig, {maxSockets: Math.max(4, concurrency)})
      const t0 = performance.now()
      const r = await fn(c, http, await loadPlan(file))
      rows.push({step, concurrency, ms: Math.round(performance.now() - t0), kubernetes: http.stats.requests, openbao: c.stats.requests, result: JSON.stringify(r.counts)})
      await c.close()
    }
    const opts = (c, http, loaded) => ({kc: lab.kubeConfig, loaded, bao: c, http, actor: 'bench@ci', concurrency})
    await run('migrate (copy)', (c, http, loaded) => copySecrets(opts(c, http, loaded)))
    await run('migrate (re-run: nothing to do)', (c, http, loaded) => copySecrets(opts(c, http, loaded)))
    await run('migrate --check', (c, http, loaded) => checkMigration(opts(c, http, loaded)))
  }
  // The CLI end to end (process start, plan load and save), fresh paths.
  const file = join(dir, 'plan-cli.yaml')
  writeFileSync(file, renderPlan(planFor('cli')))
  const t0 = performance.now()
  const r = spawnSync(process.execPath, ['bin/run.js', 'target', 'migrate', '--plan', file, '--json'], {env: {...process.env, KUBECONFIG: lab.kubeconfigPath, BAO_ADDR: lab.baoAddr, BAO_TOKEN: lab.baoToken}, encoding: 'utf8', maxBuffer: 256 << 20})
  const out = JSON.parse(r.stdout)
  rows.push({step: 'CLI: cloudtaser target migrate', concurrency: 8, ms: Math.round(performance.now() - t0), kubernetes: out.requests.kubernetes, openbao: out.requests.openbao.requests, result: JSON.stringify(out.counts)})

  console.log(`lab: kube-apiserver + OpenBao (dev, in-memory) on loopback; ${SECRETS} Secrets (2 fields each) in ${NAMESPACES} namespaces`)
  console.table(rows)
  for (const c of [1, 8]) {
    const base = rows.find((x) => x.concurrency === c && x.step.startsWith('baseline'))
    const copy = rows.find((x) => x.concurrency === c && x.step === 'migrate (copy)')
    console.log(`concurrency ${c}: migrate/baseline time ${(copy.ms / base.ms).toFixed(2)}x, requests ${((copy.kubernetes + copy.openbao) / (base.kubernetes + base.openbao)).toFixed(2)}x`)
  }
} finally {
  rmSync(dir, {recursive: true, force: true})
  await lab.stop()
}
