#!/usr/bin/env node
// Load + validate a 5,000-workload plan: time and peak RSS, against a baseline measured in the
// same run (bare YAML parse of the same file, and JSON.parse of the same data), so the ratios
// say what validation and location tracking cost on top of parsing.
// Targets (issue 2): under 1 s and under 200 MB.
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {spawnSync} from 'node:child_process'

const N = Number(process.env.WORKLOADS ?? 5000)

if (process.argv[2] === '--child') {
  const [mode, file] = process.argv.slice(3)
  const text = readFileSync(file, 'utf8')
  const t0 = performance.now()
  if (mode === 'cloudtaser') {
    const {parsePlan} = await import('../dist/lib/plan/io.js')
    parsePlan(text, file)
  } else if (mode === 'yaml') {
    const {parse} = await import('yaml')
    parse(text)
  } else {
    JSON.parse(readFileSync(file.replace(/\.yaml$/, '.json'), 'utf8'))
  }
  const ms = performance.now() - t0
  process.stdout.write(JSON.stringify({ms, rssMb: process.resourceUsage().maxRSS / 1024}))
  process.exit(0)
}

const {renderPlan} = await import('../dist/lib/plan/io.js')
const tenants = []
for (let t = 0; t < 50; t++) {
  const ns = `team-${t}`
  const workloads = []
  for (let w = 0; w < N / 50; w++) {
    workloads.push({
      kind: w % 3 === 0 ? 'StatefulSet' : 'Deployment',
      name: `svc-${w}`,
      serviceAccount: `svc-${w}`,
      replicas: 2,
      containers: [{name: 'app', image: `registry.example.eu/${ns}/svc-${w}:1.0.${w}`}],
      secrets: [
        {
          source: {name: `svc-${w}-db`},
          vaultPath: `secret/data/prod/${ns}/svc-${w}-db`,
          fields: {username: 'DB_USER', password: 'DB_PASSWORD'},
          references: [
            {container: 'app', type: 'env', env: 'DB_USER', key: 'username', index: 0},
            {container: 'app', type: 'env', env: 'DB_PASSWORD', key: 'password', index: 1},
          ],
        },
      ],
      status: {state: 'pending'},
    })
  }
  tenants.push({name: ns, namespace: ns, policy: `cloudtaser-prod-${ns}`, role: `cloudtaser-prod-${ns}`, workloads})
}
const plan = {
  apiVersion: 'cloudtaser.io/v1',
  kind: 'MigrationPlan',
  metadata: {name: 'prod', cluster: {name: 'prod', fingerprint: '0f6a4a36-4cf3-4d93-9f0b-5e2d8f6e1c2a'}},
  tenants,
}
const dir = mkdtempSync(join(tmpdir(), 'cloudtaser-bench-'))
const file = join(dir, 'plan.yaml')
writeFileSync(file, renderPlan(plan))
writeFileSync(file.replace(/\.yaml$/, '.json'), JSON.stringify(plan))

const run = (mode) => {
  const runs = []
  for (let i = 0; i < 5; i++) {
    const r = spawnSync(process.execPath, [new URL(import.meta.url).pathname, '--child', mode, file], {encoding: 'utf8'})
    if (r.status !== 0) throw new Error(r.stderr)
    runs.push(JSON.parse(r.stdout))
  }
  runs.sort((a, b) => a.ms - b.ms)
  return runs[2] // median
}
const ours = run('cloudtaser')
const yamlOnly = run('yaml')
const jsonOnly = run('json')
const kb = Math.round(readFileSync(file).length / 1024)
console.log(`plan: ${N} workloads, ${kb} KiB YAML`)
console.log(`cloudtaser load+validate: ${ours.ms.toFixed(0)} ms, peak RSS ${ours.rssMb.toFixed(0)} MB (target < 1000 ms, < 200 MB)`)
console.log(`baseline yaml.parse:      ${yamlOnly.ms.toFixed(0)} ms, peak RSS ${yamlOnly.rssMb.toFixed(0)} MB`)
console.log(`baseline JSON.parse:      ${jsonOnly.ms.toFixed(0)} ms, peak RSS ${jsonOnly.rssMb.toFixed(0)} MB`)
console.log(`ratio time vs yaml.parse: ${(ours.ms / yamlOnly.ms).toFixed(2)}x`)
console.log(`ratio RSS  vs yaml.parse: ${(ours.rssMb / yamlOnly.rssMb).toFixed(2)}x`)
