// source apply-plan / verify-plan / configure as users and scripts see them (the built CLI,
// bin/run.js, against a real OpenBao): exit codes, --json shapes, and values never printed.
import t from 'tap'
import {type CliRun, runCli} from '../../../helpers/cli.js'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {startOpenBao} from '../../../../lib/lab/index.js'
import {freePort} from '../../../../lib/lab/net.js'
import {renderPlan} from '../../../../lib/plan/io.js'
import {baoCli, CANARY, clientFor, labPlan, writeValues} from '../../../lib/openbao/fixtures.js'

const bao = await startOpenBao()
t.teardown(() => bao.stop())
const root = clientFor(bao.addr, bao.token)
t.teardown(() => root.close())
await root.write('sys/auth/kubernetes', {type: 'kubernetes'})

const dir = mkdtempSync(join(tmpdir(), 'ct-openbao-cli-'))
t.teardown(() => rmSync(dir, {recursive: true, force: true}))
const planFile = join(dir, 'plan.yaml')
writeFileSync(planFile, renderPlan(labPlan()))

type Run = CliRun
const cli = (args: string[], env: NodeJS.ProcessEnv = {BAO_ADDR: bao.addr, BAO_TOKEN: bao.token}): Promise<Run> => runCli(args, {env: {HOME: dir, ...env}})
const noCanary = (t: {notOk: (v: unknown, msg: string) => unknown}, r: Run, what: string) => {
  for (const v of Object.values(CANARY)) t.notOk((r.stdout + r.stderr).includes(v), `${what}: no value in stdout/stderr`)
}

t.test('apply-plan --dry-run, apply, re-apply; --json shape', async (t) => {
  const dry = await cli(['source', 'apply-plan', planFile, '--dry-run'])
  t.equal(dry.code, 0, dry.stderr)
  t.match(dry.stdout, /would create +policy cloudtaser-lab-alpha/)
  t.match(dry.stdout, /Would create 4, would update 0, unchanged 0, conflicts 0/)
  t.equal(await root.read('sys/policies/acl/cloudtaser-lab-alpha'), undefined, 'dry run wrote nothing')

  const apply = await cli(['source', 'apply-plan', planFile])
  t.equal(apply.code, 0, apply.stderr)
  t.match(apply.stdout, /Created 4, updated 0, unchanged 0, conflicts 0/)
  const again = await cli(['source', 'apply-plan', planFile, '--json'])
  t.equal(again.code, 0)
  const json = JSON.parse(again.stdout)
  t.match(json, {plan: 'lab', dryRun: false, refused: false, summary: {create: 0, update: 0, unchanged: 4, conflict: 0}, requests: {requests: Number}})
  t.same(
    json.actions.map((a: {resource: string; name: string; kind: string}) => `${a.kind} ${a.resource} ${a.name}`),
    ['unchanged policy cloudtaser-lab-alpha', 'unchanged policy cloudtaser-lab-beta', 'unchanged role cloudtaser-lab-alpha', 'unchanged role cloudtaser-lab-beta'],
  )
})

t.test('a policy cloudtaser did not create: exit 6, nothing written; --force takes it over', async (t) => {
  const foreign = 'path "secret/data/*" { capabilities = ["read", "list"] }'
  await root.write('sys/policies/acl/cloudtaser-lab-beta', {policy: foreign}, 'PUT')
  await root.write('sys/policies/acl/cloudtaser-lab-alpha', {policy: '# managed-by: cloudtaser; plan=lab\npath "x" { capabilities = ["read"] }'}, 'PUT')
  const r = await cli(['source', 'apply-plan', planFile])
  t.equal(r.code, 6)
  t.match(r.stdout, /CONFLICT +policy cloudtaser-lab-beta +\(exists and is not created by cloudtaser; --force overwrites it\)/)
  t.match(r.stderr, /nothing was written/)
  t.equal((await root.read<{data: {policy: string}}>('sys/policies/acl/cloudtaser-lab-beta'))!.data.policy, foreign, 'foreign policy untouched')
  t.match((await root.read<{data: {policy: string}}>('sys/policies/acl/cloudtaser-lab-alpha'))!.data.policy, /path "x"/, 'not even our own drifted policy was fixed')
  const json = JSON.parse((await cli(['source', 'apply-plan', planFile, '--json'])).stdout)
  t.match(json, {refused: true, summary: {conflict: 1, update: 1}})
  const forced = await cli(['source', 'apply-plan', planFile, '--force'])
  t.equal(forced.code, 0, forced.stderr)
  t.match(forced.stdout, /updated +policy cloudtaser-lab-beta +\(overwritten \(--force\)\)/)
  t.match((await cli(['source', 'apply-plan', planFile])).stdout, /Created 0, updated 0, unchanged 4, conflicts 0/)

  // A hand-made role of the same name granting someone else's policy.
  await root.write('sys/policies/acl/ops-admin', {policy: 'path "secret/*" { capabilities = ["read"] }'}, 'PUT')
  await root.write('auth/kubernetes/role/cloudtaser-lab-alpha', {bound_service_account_names: ['ops'], bound_service_account_namespaces: ['ops'], token_policies: ['ops-admin']})
  const role = await cli(['source', 'apply-plan', planFile, '--dry-run'])
  t.equal(role.code, 6)
  t.match(role.stdout, /CONFLICT +role cloudtaser-lab-alpha +\(exists with policies \[ops-admin\] that cloudtaser does not own; --force overwrites it\)/)
  t.same((await root.read<{data: {token_policies: string[]}}>('auth/kubernetes/role/cloudtaser-lab-alpha'))!.data.token_policies, ['ops-admin'])
  t.equal((await cli(['source', 'apply-plan', planFile, '--force'])).code, 0)
  t.same((await root.read<{data: {token_policies: string[]}}>('auth/kubernetes/role/cloudtaser-lab-alpha'))!.data.token_policies, ['cloudtaser-lab-alpha'])
})

t.test('verify-plan: table and --json; exit 1 naming the secret and field; canary values never printed', async (t) => {
  const before = await cli(['source', 'verify-plan', planFile])
  t.equal(before.code, 1)
  t.match(before.stdout, /secret\/data\/lab\/alpha\/db +missing/)
  await writeValues(bao.addr, bao.token)
  const ok = await cli(['source', 'verify-plan', planFile])
  t.equal(ok.code, 0, ok.stderr)
  t.match(ok.stdout, /All 4 secret\(s\) present\./)
  noCanary(t, ok, 'table')
  const okJson = await cli(['source', 'verify-plan', planFile, '--json'])
  t.match(JSON.parse(okJson.stdout), {ok: true, counts: {ok: 4}})
  noCanary(t, okJson, '--json')

  await baoCli(bao.addr, bao.token, 'kv', 'put', '-mount=secret', 'lab/alpha/db', `username=${CANARY.alpha}`)
  const bad = await cli(['source', 'verify-plan', planFile])
  t.equal(bad.code, 1)
  t.match(bad.stdout, /secret\/data\/lab\/alpha\/db +fields-missing +\d+ +missing field\(s\): password/)
  t.match(bad.stdout, /1 of 4 secret\(s\) not ready\./)
  noCanary(t, bad, 'failing table')
  const badJson = await cli(['source', 'verify-plan', planFile, '--json'])
  t.equal(badJson.code, 1)
  t.match(JSON.parse(badJson.stdout).secrets[0], {vaultPath: 'secret/data/lab/alpha/db', state: 'fields-missing', missingFields: ['password']})
  noCanary(t, badJson, 'failing --json')
})

t.test('source configure: dry run, apply, unchanged', async (t) => {
  t.match((await cli(['source', 'configure', '--dry-run'])).stdout, /would create +policy cloudtaser-operator/)
  t.equal(await root.read('sys/policies/acl/cloudtaser-operator'), undefined)
  t.equal((await cli(['source', 'configure'])).code, 0)
  const json = JSON.parse((await cli(['source', 'configure', '--json'])).stdout)
  t.match(json, {summary: {unchanged: 2}, kvMount: {mount: 'secret', version: 2}})
  const policy = (await root.read<{data: {policy: string}}>('sys/policies/acl/cloudtaser-operator'))!.data.policy
  t.match(policy, /path "secret\/data\/cloudtaser\/system\/\*"/)
  t.match(policy, /path "secret\/metadata\/cloudtaser\/system\/\*"/)
})

t.test('connection settings: aliases, token file, and error exit codes', async (t) => {
  const alias = await cli(['source', 'verify-plan', planFile, '--secretstore-address', bao.addr, '--secretstore-token', bao.token, '--json'], {})
  t.equal(JSON.parse(alias.stdout).kvMounts[0].mount, 'secret', 'old product flag names work')
  writeFileSync(join(dir, '.vault-token'), bao.token)
  t.not((await cli(['source', 'configure', '--dry-run'], {VAULT_ADDR: bao.addr})).code, 3, 'token from ~/.vault-token')

  const noAddr = await cli(['source', 'verify-plan', planFile, '--json'], {})
  t.equal(noAddr.code, 3)
  t.match(JSON.parse(noAddr.stdout), {error: {code: 'BAO_NO_ADDRESS', exitCode: 3}})
  const badToken = await cli(['source', 'apply-plan', planFile], {BAO_ADDR: bao.addr, BAO_TOKEN: 'nope'})
  t.equal(badToken.code, 4)
  t.match(badToken.stderr, /Error \[BAO_INVALID_TOKEN\]/)
  const down = await cli(['source', 'verify-plan', planFile, '--json', '--bao-timeout', '2'], {BAO_ADDR: `http://127.0.0.1:${await freePort()}`, BAO_TOKEN: 'x'})
  t.equal(down.code, 5)
  t.match(JSON.parse(down.stdout), {error: {code: 'BAO_UNREACHABLE'}})
  const kv1Plan = join(dir, 'kv1.yaml')
  await root.write('sys/mounts/kv1', {type: 'kv'})
  const p = labPlan()
  p.openbao!.kvMount = 'kv1'
  for (const tn of p.tenants) for (const w of tn.workloads) for (const s of w.secrets) s.vaultPath = s.vaultPath.replace(/^secret\//, 'kv1/')
  writeFileSync(kv1Plan, renderPlan(p))
  const v1 = await cli(['source', 'verify-plan', kv1Plan])
  t.equal(v1.code, 3)
  t.match(v1.stderr, /Error \[BAO_KV_V1\]: "kv1\/" is KV version 1/)
})
