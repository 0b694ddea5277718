// OpenBao's own audit log as the witness: apply-plan never sends a request under the KV mount,
// and verify-plan reads metadata for envFrom-only secrets and data only where fields are mapped.
// OpenBao 2.x only takes audit devices from the server config, so this test starts a dev server
// of its own with an `audit "file"` stanza (startOpenBao's config option).
import t from 'tap'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {startOpenBao} from '../../../lib/lab/index.js'
import {applyPlan} from '../../../lib/openbao/apply-plan.js'
import {verifyPlan} from '../../../lib/openbao/verify-plan.js'
import {CANARY, clientFor, labPlan, writeValues} from './fixtures.js'

const dir = mkdtempSync(join(tmpdir(), 'ct-bao-audit-'))
t.teardown(() => rmSync(dir, {recursive: true, force: true}))
const log = join(dir, 'audit.log')
const bao = await startOpenBao({config: `audit "file" "to-file" {\n  options {\n    file_path = ${JSON.stringify(log)}\n  }\n}\n`})
t.teardown(() => bao.stop())
const client = clientFor(bao.addr, bao.token)
t.teardown(() => client.close())
await client.write('sys/auth/kubernetes', {type: 'kubernetes'})
await writeValues(bao.addr, bao.token)

interface Entry {
  type: string
  request?: {path?: string; operation?: string}
}
const requests = () =>
  readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Entry)
    .filter((e) => e.type === 'request')
    .map((e) => `${e.request!.operation} ${e.request!.path}`)

t.test('apply-plan: policies, roles, mount lookups; nothing under secret/', async (t) => {
  const plan = labPlan()
  const start = requests().length
  await applyPlan(client, plan, {dryRun: true})
  await applyPlan(client, plan)
  const drifted = labPlan()
  drifted.tenants[0]!.workloads[0]!.secrets.pop()
  await applyPlan(client, drifted)
  const seen = requests().slice(start)
  t.ok(seen.includes('update sys/policies/acl/cloudtaser-lab-alpha'), 'the audit log sees the writes')
  t.ok(seen.some((p) => /^(create|update) auth\/kubernetes\/role\/cloudtaser-lab-beta$/.test(p)), 'and the role writes')
  t.same(seen.filter((p) => / secret\//.test(p)), [], 'no request under the KV mount')
})

t.test('verify-plan: data reads only for secrets with mapped fields; metadata for the rest', async (t) => {
  const start = requests().length
  const r = await verifyPlan(client, labPlan())
  t.equal(r.ok, true)
  t.same(requests().slice(start).filter((p) => / secret\//.test(p)).sort(), [
    'read secret/data/lab/alpha/db',
    'read secret/data/lab/beta/db',
    'read secret/metadata/lab/alpha/env',
    'read secret/metadata/lab/beta/env',
  ])
  // The audit log HMACs values by default: our canaries are not in it either.
  t.notOk(readFileSync(log, 'utf8').includes(CANARY.alpha))
})
