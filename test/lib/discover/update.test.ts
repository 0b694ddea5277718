// discover --update as a pure merge: the reviewed plan wins, the cluster adds, nothing is lost.
import t from 'tap'
import {mergeDiscovery} from '../../../lib/discover/update.js'
import type {MigrationPlan, Workload} from '../../../lib/plan/types.generated.js'
import {validatePlan} from '../../../lib/plan/validate.js'

const w = (name: string, secrets: string[], extra: Partial<Workload> = {}): Workload => ({
  kind: 'Deployment',
  name,
  serviceAccount: 'default',
  replicas: 1,
  secrets: secrets.map((s) => ({source: {name: s}, vaultPath: `secret/data/c/shop/${s}`, fields: {password: 'P'}, references: [{container: 'a', type: 'env', env: 'P', key: 'password', index: 0}]})),
  status: {state: 'pending'},
  ...extra,
})
const plan = (workloads: Record<string, Workload[]>, extra: Partial<MigrationPlan> = {}): MigrationPlan => ({
  apiVersion: 'cloudtaser.io/v1',
  kind: 'MigrationPlan',
  metadata: {name: 'c', cluster: {name: 'c', fingerprint: '0f6a4a36-4cf3-4d93-9f0b-5e2d8f6e1c2a'}, createdAt: '2026-11-01T00:00:00Z', createdBy: 'alice@laptop'},
  tenants: Object.entries(workloads).map(([ns, ws]) => ({name: ns, namespace: ns, policy: `cloudtaser-c-${ns}`, role: `cloudtaser-c-${ns}`, workloads: ws})),
  ...extra,
})

t.test('statuses, notes and reviewers\' edits win; new fields, workloads and tenants are added', async (t) => {
  const reviewed = plan({shop: [w('api', ['db'], {note: 'owner: team-a', status: {state: 'migrated', at: '2026-11-02T00:00:00Z', by: 'bob@ci', revision: 4}})]})
  reviewed.tenants[0]!.note = 'approved SEC-7'
  reviewed.tenants[0]!.workloads[0]!.secrets[0]!.vaultPath = 'secret/data/reviewed/db'
  reviewed.tenants[0]!.workloads[0]!.secrets[0]!.fields = {password: 'RENAMED'}
  const fresh = plan({shop: [w('api', ['db'], {replicas: 5}), w('web', ['db'])], billing: [w('ledger', ['ledger'])]})
  fresh.tenants[1]!.workloads[0]!.secrets[0]!.fields = {password: 'P', username: 'U'}

  const {plan: merged, summary} = mergeDiscovery(reviewed, fresh, '2026-11-23T00:00:00Z')
  t.same(validatePlan(merged), [])
  const api = merged.tenants.find((x) => x.namespace === 'shop')!.workloads[0]!
  t.match(api, {name: 'api', note: 'owner: team-a', replicas: 5, status: {state: 'migrated', by: 'bob@ci', revision: 4}})
  t.equal(api.secrets[0]!.vaultPath, 'secret/data/reviewed/db')
  t.same(api.secrets[0]!.fields, {password: 'RENAMED'})
  t.equal(merged.tenants.find((x) => x.namespace === 'shop')!.note, 'approved SEC-7')
  t.same(merged.tenants.map((x) => x.namespace), ['billing', 'shop'], 'new tenant inserted in order')
  t.same(summary, {added: ['billing/Deployment/ledger', 'shop/Deployment/web'], vanished: [], secretsAdded: [], secretsGone: []})
  t.equal(merged.metadata.updatedAt, '2026-11-23T00:00:00Z')
  t.equal(merged.metadata.createdAt, '2026-11-01T00:00:00Z', 'createdAt is the first discovery')
  t.equal(reviewed.tenants[0]!.workloads[0]!.replicas, 1, 'the input plan is not modified')
})

t.test('vanished workloads are marked and kept; a returning one is unmarked', async (t) => {
  const reviewed = plan({shop: [w('api', ['db'], {status: {state: 'skipped', reason: 'legacy'}}), w('back', ['db'], {vanished: true})]})
  const {plan: merged, summary} = mergeDiscovery(reviewed, plan({shop: [w('back', ['db'])]}), '2026-11-23T00:00:00Z')
  const [api, back] = merged.tenants[0]!.workloads
  t.match(api, {name: 'api', vanished: true, status: {state: 'skipped', reason: 'legacy'}})
  t.notOk('vanished' in back!, 'back again')
  t.same(summary.vanished, ['shop/Deployment/api'])
  const again = mergeDiscovery(merged, plan({shop: [w('back', ['db'])]}), '2026-11-24T00:00:00Z')
  t.same(again.summary.vanished, [], 'already vanished: not reported twice')
})

t.test('secrets added to and gone from a workload; missing flag follows the cluster', async (t) => {
  const reviewed = plan({shop: [w('api', ['db', 'old'])]})
  const fresh = plan({shop: [w('api', ['db', 'psp'])]})
  fresh.tenants[0]!.workloads[0]!.secrets[0]!.source.missing = true
  const {plan: merged, summary} = mergeDiscovery(reviewed, fresh, '2026-11-23T00:00:00Z')
  t.same(merged.tenants[0]!.workloads[0]!.secrets.map((s) => s.source), [{name: 'db', missing: true}, {name: 'old'}, {name: 'psp'}])
  t.same(summary.secretsAdded, ['shop/Deployment/api: psp'])
  t.same(summary.secretsGone, ['shop/Deployment/api: old'])
})

t.test('informational lists are replaced by what the cluster has now', async (t) => {
  const reviewed = plan({}, {notProtectable: [{kind: 'Pod', namespace: 'shop', name: 'debug'}], vaultInjected: [{kind: 'Deployment', namespace: 'shop', name: 'v'}]})
  const {plan: merged} = mergeDiscovery(reviewed, plan({}, {vaultInjected: [{kind: 'Deployment', namespace: 'shop', name: 'w'}]}), '2026-11-23T00:00:00Z')
  t.notOk('notProtectable' in merged)
  t.same(merged.vaultInjected, [{kind: 'Deployment', namespace: 'shop', name: 'w'}])
})

t.test('added workloads and secrets take their sorted place', async (t) => {
  const reviewed = plan({shop: [w('b', ['m']), w('d', ['m'])]})
  const fresh = plan({shop: [w('a', ['m']), w('b', ['a', 'm', 'z']), w('c', ['m']), w('d', ['m'])]})
  fresh.tenants[0]!.workloads.push({...w('a', ['m']), kind: 'CronJob'})
  const {plan: merged} = mergeDiscovery(reviewed, fresh, '2026-11-23T00:00:00Z')
  t.same(merged.tenants[0]!.workloads.map((x) => `${x.kind}/${x.name}`), ['Deployment/a', 'Deployment/b', 'Deployment/c', 'Deployment/d', 'CronJob/a'])
  t.same(merged.tenants[0]!.workloads[1]!.secrets.map((s) => s.source.name), ['a', 'm', 'z'])
})
