// Pure transforms of a plan: desired policies/roles (apply-plan), secret requirements (verify-plan).
import t from 'tap'
import {desiredFromPlan, kvMountsOf} from '../../../lib/openbao/apply-plan.js'
import {planManaged} from '../../../lib/openbao/managed.js'
import {brokerServiceOf} from '../../../lib/openbao/migrator-access.js'
import {evaluate, requirementsOf} from '../../../lib/openbao/verify-plan.js'
import {planTransit, transitNeedsOf} from '../../../lib/openbao/transit-keys.js'
import {loadPlan} from '../../../lib/plan/io.js'
import type {MigrationPlan} from '../../../lib/plan/types.generated.js'

const {plan: multi} = await loadPlan('examples/plans/multi-tenant.yaml')

t.test('one policy per tenant: read on exactly its data paths and their metadata, no globs', async (t) => {
  const set = desiredFromPlan(multi)
  t.equal(set.authMount, 'kubernetes/prod-eu-1')
  t.equal(set.owner, 'plan=prod-eu-1')
  const payments = set.policies.find((p) => p.tenant === 'payments')!
  t.equal(payments.name, 'cloudtaser-prod-eu-1-payments')
  t.match(payments.text, /^# managed-by: cloudtaser; plan=prod-eu-1\n/)
  const paths = [...payments.text.matchAll(/^path "([^"]+)"/gm)].map((m) => m[1])
  const data = [...new Set(multi.tenants.find((x) => x.name === 'payments')!.workloads.flatMap((w) => w.secrets.map((s) => s.vaultPath)))]
  t.same(paths, [...data, ...data.map((p) => p.replace('/data/', '/metadata/'))].sort(), 'versions for change detection, never a list or a glob')
  t.notMatch(payments.text, /\*/, 'no wildcard')
  t.same([...payments.text.matchAll(/capabilities = \[(.*)\]/g)].map((m) => m[1]).filter((c) => c !== '"read"'), [], 'read only')
  for (const p of set.policies) t.notMatch(p.text, new RegExp(`/${multi.tenants.find((x) => x.name !== p.tenant)!.name}/`), `${p.tenant} has no path of another tenant`)
})

t.test('an s3Proxy workload: its credentials path (and versions) read, its Transit key only', async (t) => {
  const {plan: single} = await loadPlan('examples/plans/single-tenant.yaml')
  const policy = desiredFromPlan(single).policies[0]!
  const rules = [...policy.text.matchAll(/^path "([^"]+)" \{\n {2}capabilities = \[(.*)\]/gm)].map((m) => `${m[1]} ${m[2]}`)
  t.same(rules, [
    'secret/data/staging-eu-1/shop/storefront-db "read"',
    'secret/data/staging-eu-1/shop/storefront-s3 "read"',
    'secret/metadata/staging-eu-1/shop/storefront-db "read"',
    'secret/metadata/staging-eu-1/shop/storefront-s3 "read"',
    'transit/decrypt/shop-images "update"',
    'transit/encrypt/shop-images "update"',
    'transit/keys/shop-images "read"',
  ])
  t.same(
    requirementsOf(single).map((r) => [r.vaultPath, r.mount, r.path, r.fields]),
    [
      ['secret/data/staging-eu-1/shop/storefront-db', 'secret', 'staging-eu-1/shop/storefront-db', ['password', 'username']],
      ['secret/data/staging-eu-1/shop/storefront-s3', 'secret', 'staging-eu-1/shop/storefront-s3', ['access_key_id', 'secret_access_key', 'upstream_access_key_id', 'upstream_secret_access_key']],
    ],
    'verify-plan checks the credentials secret and its four fields',
  )
  const without = structuredClone(single)
  delete without.tenants[0]!.workloads[0]!.s3Proxy
  t.notMatch(desiredFromPlan(without).policies[0]!.text, /transit|storefront-s3/, 'nothing for a workload without it')
})

t.test('Transit: one need per mount and key over every workload; a create per missing mount and key, a conflict for another engine', async (t) => {
  const {plan: single} = await loadPlan('examples/plans/single-tenant.yaml')
  t.same(transitNeedsOf(single), [{mount: 'transit', key: 'shop-images', workloads: ['shop/Deployment/storefront']}])
  const two = structuredClone(single)
  const w = two.tenants[0]!.workloads[0]!
  two.tenants[0]!.workloads.push({...structuredClone(w), name: 'worker'}, {...structuredClone(w), name: 'archive', s3Proxy: {...w.s3Proxy!, transitMount: 'eu-keys', transitKey: 'archive'}})
  const needs = transitNeedsOf(two)
  t.same(needs.map((n) => [n.mount, n.key, n.workloads]), [['eu-keys', 'archive', ['shop/Deployment/archive']], ['transit', 'shop-images', ['shop/Deployment/storefront', 'shop/Deployment/worker']]])
  const line = (a: {kind: string; resource: string; name: string}) => `${a.kind} ${a.resource} ${a.name}`
  t.same(planTransit([{...needs[0]!, state: 'no-mount'}, {...needs[1]!, state: 'present'}]).map(line), ['create transit-mount eu-keys/', 'create transit-key eu-keys/keys/archive', 'unchanged transit-mount transit/', 'unchanged transit-key transit/keys/shop-images'])
  t.same(planTransit([{...needs[1]!, state: 'missing'}]).map(line), ['unchanged transit-mount transit/', 'create transit-key transit/keys/shop-images'])
  const other = planTransit([{...needs[1]!, state: 'not-transit', mountType: 'kv'}])
  t.match(other, [{resource: 'transit-mount', kind: 'conflict', reason: /is a kv mount, not Transit/}])
  t.equal(other.length, 1, 'no key under another engine')
  t.same(planTransit([]), [])
  const paused = structuredClone(single)
  paused.tenants[0]!.workloads[0]!.status = {state: 'skipped'}
  t.same(transitNeedsOf(paused), [], 'a skipped workload needs nothing')
})

t.test('role: namespace, service accounts (default when unset), that policy, TTLs', async (t) => {
  const set = desiredFromPlan(multi, {tokenTtl: 60, tokenMaxTtl: 120})
  const role = set.roles.find((r) => r.tenant === 'payments')!
  t.same(role.spec, {
    bound_service_account_names: ['ledger', 'payments-api'],
    bound_service_account_namespaces: ['payments'],
    token_policies: ['cloudtaser-prod-eu-1-payments'],
    token_ttl: 60,
    token_max_ttl: 120,
  })
  t.same(kvMountsOf(multi), ['secret'])
})

const tiny = (over: Partial<MigrationPlan> = {}): MigrationPlan => ({
  apiVersion: 'cloudtaser.io/v1',
  kind: 'MigrationPlan',
  metadata: {name: 'tiny'},
  tenants: [
    {
      name: 'shop',
      namespace: 'shop',
      workloads: [
        {kind: 'Deployment', name: 'web', secrets: [{source: {name: 'db'}, vaultPath: 'secret/data/shop/db', fields: {password: 'PW'}}], status: {state: 'pending'}},
        {kind: 'Deployment', name: 'gone', vanished: true, secrets: [{source: {name: 'x'}, vaultPath: 'secret/data/shop/gone'}], status: {state: 'pending'}},
        {kind: 'Deployment', name: 'kept', secrets: [{source: {name: 'y'}, vaultPath: 'secret/data/shop/kept'}], status: {state: 'skipped', reason: 'team said no'}},
        {
          kind: 'StatefulSet',
          name: 'db',
          serviceAccount: 'db',
          secrets: [
            {source: {name: 'db'}, vaultPath: 'secret/data/shop/db', fields: {username: 'U'}},
            {source: {name: 'tls'}, vaultPath: 'secret/data/shop/tls', files: [{container: 'db', mountPath: '/tls', items: [{key: 'tls.key', path: 'k'}]}]},
            {source: {name: 'env'}, vaultPath: 'secret/data/shop/env', envFrom: {prefix: 'A_'}},
          ],
          status: {state: 'migrated'},
        },
      ],
    },
  ],
  ...over,
})

t.test('defaults, and vanished or skipped workloads get no access', async (t) => {
  const set = desiredFromPlan(tiny())
  t.equal(set.authMount, 'kubernetes')
  t.equal(set.policies[0]!.name, 'shop', 'protect writes tenant.role ?? tenant.name; the policy defaults to the same')
  t.notMatch(set.policies[0]!.text, /gone|kept/)
  t.same(set.roles[0]!.spec.bound_service_account_names, ['db', 'default'])
})

t.test('a path outside the mount is refused with its location', async (t) => {
  const p = tiny({openbao: {kvMount: 'kv'}})
  t.throws(() => desiredFromPlan(p), {code: 'PLAN_PATH_MOUNT_MISMATCH', message: /tenant shop, Deployment\/web, secret 0/})
})

const BROKER = {openbao: {address: 'https://cloudtaser-broker.cloudtaser-system.svc:8200'}}

t.test('--allow-cluster-migrate: the migrator may create, read and update exactly the active paths, read their metadata, nothing else', async (t) => {
  t.notOk(desiredFromPlan(tiny(BROKER)).policies.some((p) => p.name === 'cloudtaser-migrate'), 'only when asked')
  const set = desiredFromPlan(tiny(BROKER), undefined, {clusterMigrate: true})
  const policy = set.policies.find((p) => p.name === 'cloudtaser-migrate')!
  t.match(policy.text, /^# managed-by: cloudtaser; plan=tiny\n/, 'owned by the plan, like the tenants\' policies')
  const rules = [...policy.text.matchAll(/^path "([^"]+)" \{\n {2}capabilities = \[(.*)\]/gm)].map((m) => `${m[1]} ${m[2]}`)
  const rw = '"create", "read", "update"'
  t.same(rules, [
    `secret/data/shop/db ${rw}`, `secret/data/shop/env ${rw}`, `secret/data/shop/tls ${rw}`,
    'secret/metadata/shop/db "read"', 'secret/metadata/shop/env "read"', 'secret/metadata/shop/tls "read"',
  ], 'no vanished or skipped workload\'s path, no glob, no delete or list')
  t.same(set.roles.find((r) => r.name === 'cloudtaser-migrate')!.spec, {
    bound_service_account_names: ['cloudtaser-migrator'],
    bound_service_account_namespaces: ['cloudtaser-system'],
    token_policies: ['cloudtaser-migrate'],
    token_ttl: 600,
    token_max_ttl: 1800,
  })
  const clash = tiny(BROKER)
  clash.tenants[0]!.name = 'cloudtaser-migrate'
  const dup = desiredFromPlan(clash, undefined, {clusterMigrate: true})
  const conflicts = planManaged(dup, {policies: new Map(), roles: new Map()}).filter((a) => a.kind === 'conflict').map((a) => `${a.resource} ${a.name} ${a.tenant ?? '-'}`)
  t.same(conflicts, ['policy cloudtaser-migrate cloudtaser-migrate', 'policy cloudtaser-migrate -', 'role cloudtaser-migrate cloudtaser-migrate', 'role cloudtaser-migrate -'], 'a tenant of that name is a conflict, not a shared policy')
})

t.test('the broker Service from the plan\'s address; any other address is refused', async (t) => {
  t.same(brokerServiceOf(tiny(BROKER)), {name: 'cloudtaser-broker', namespace: 'cloudtaser-system', port: 8200})
  t.same(brokerServiceOf(tiny({openbao: {address: 'https://b.ns1.svc.cluster.local'}})), {name: 'b', namespace: 'ns1', port: 443})
  for (const address of ['https://openbao.eu.example:8200', 'http://cloudtaser-broker.cloudtaser-system.svc:8200', 'https://cloudtaser-broker.cloudtaser-system.svc:8200/x', undefined]) {
    t.throws(() => brokerServiceOf(tiny({openbao: {address}})), {code: 'MIGRATE_NOT_VIA_BROKER'}, String(address))
  }
  t.throws(() => desiredFromPlan(tiny(), undefined, {clusterMigrate: true}), {code: 'MIGRATE_NOT_VIA_BROKER'}, 'apply-plan --allow-cluster-migrate on a plan without the broker')
})

t.test('verify requirements: one per path, fields unioned (env fields and file items), envFrom needs none', async (t) => {
  const reqs = requirementsOf(tiny())
  t.same(
    reqs.map((r) => [r.vaultPath, r.fields, r.workloads]),
    [
      ['secret/data/shop/db', ['password', 'username'], ['shop/Deployment/web', 'shop/StatefulSet/db']],
      ['secret/data/shop/env', [], ['shop/StatefulSet/db']],
      ['secret/data/shop/tls', ['tls.key'], ['shop/StatefulSet/db']],
    ],
  )
  const r = evaluate(reqs, [
    {state: 'ok', version: 2, missingFields: [], read: 'data'},
    {state: 'deleted', version: 1, missingFields: [], read: 'metadata'},
    {state: 'fields-missing', version: 3, missingFields: ['tls.key'], read: 'data'},
  ])
  t.equal(r.ok, false)
  t.same(r.counts, {ok: 1, missing: 0, deleted: 1, destroyed: 0, 'fields-missing': 1})
})
