// The CLI as users and scripts see it: exit codes, --json shapes (snapshotted), one line per error.
import t from 'tap'
import {spawnSync} from 'node:child_process'

const cli = (...args: string[]) => {
  const r = spawnSync(process.execPath, ['bin/run.js', ...args], {encoding: 'utf8'})
  return {code: r.status, stdout: r.stdout, stderr: r.stderr}
}

t.test('plan validate: all valid exits 0', async (t) => {
  const r = cli('plan', 'validate', 'examples/plans/single-tenant.yaml', 'examples/plans/multi-tenant.yaml')
  t.equal(r.code, 0)
  t.match(r.stdout, /single-tenant.yaml: valid/)
})

t.test('plan validate: any invalid exits 1 with file:line:col lines', async (t) => {
  const r = cli('plan', 'validate', 'examples/plans/single-tenant.yaml', 'examples/plans/invalid/pasted-value.yaml')
  t.equal(r.code, 1)
  t.match(r.stdout, /^examples\/plans\/invalid\/pasted-value.yaml:16:13: "data" is not allowed/m)
})

t.test('plan validate --json: typed result, exit code kept', async (t) => {
  const r = cli('plan', 'validate', '--json', 'examples/plans/invalid/bad-status.yaml', 'examples/plans/partially-migrated.yaml')
  t.equal(r.code, 1)
  t.matchSnapshot(JSON.parse(r.stdout), 'validate result shape')
})

t.test('usage errors exit 2, also under --json', async (t) => {
  const plain = cli('plan', 'validate')
  t.equal(plain.code, 2)
  t.match(plain.stderr, /Error \[USAGE\]/)
  const json = cli('plan', 'show', '--json')
  t.equal(json.code, 2)
  t.match(JSON.parse(json.stdout), {error: {code: 'USAGE', exitCode: 2, hint: String}})
})

t.test('plan show on a missing file: exit 2, hint', async (t) => {
  const r = cli('plan', 'show', 'nope.yaml', '--json')
  t.equal(r.code, 2)
  t.match(JSON.parse(r.stdout), {error: {code: 'PLAN_UNREADABLE'}})
})

t.test('plan show on an invalid plan: exit 1 with the located error', async (t) => {
  const r = cli('plan', 'show', 'examples/plans/invalid/token-in-reason.yaml')
  t.equal(r.code, 1)
  t.match(r.stderr, /token-in-reason.yaml:14:43: looks like an OpenBao\/Vault token/)
  t.notMatch(r.stderr + r.stdout, /CAESIJ8xq1f0aQnZk3v9YwT2bL7mR4pE6uHs/, 'the error never repeats the secret')
})

t.test('plan show: progress per tenant', async (t) => {
  const r = cli('plan', 'show', 'examples/plans/partially-migrated.yaml')
  t.equal(r.code, 0)
  t.match(r.stdout, /Progress: 1\/4 migrated, 1 pending, 1 skipped, 1 failed/)
  const json = cli('plan', 'show', 'examples/plans/multi-tenant.yaml', '--json')
  t.matchSnapshot(JSON.parse(json.stdout), 'show result shape')
})

t.test('plan show: the workloads whose objects go through the S3 proxy, with the key', async (t) => {
  const r = cli('plan', 'show', 'examples/plans/single-tenant.yaml')
  t.equal(r.code, 0)
  t.match(r.stdout, /Deployment\/storefront\n(.*\n)*\s+S3 proxy to https:\/\/s3\.eu-central-1\.amazonaws\.com, Transit key transit\/shop-images\n/)
  const json = cli('plan', 'show', 'examples/plans/single-tenant.yaml', '--json')
  t.same(JSON.parse(json.stdout).tenants[0].workloads[0].s3Proxy, {upstream: 'https://s3.eu-central-1.amazonaws.com', transitKey: 'transit/shop-images'})
})

t.test('version --json', async (t) => {
  const r = cli('version', '--json')
  t.equal(r.code, 0)
  const v = JSON.parse(r.stdout)
  t.match(v, {version: /^\d+\.\d+\.\d+/, planApiVersions: ['cloudtaser.io/v1'], node: /^2[24]\./})
})
