// Pure transforms of a plan: desired policies/roles (apply-plan), secret requirements (verify-plan).
import t from 'tap'
import {desiredFromPlan, kvMountsOf} from '../../../lib/openbao/apply-plan.js'
import {evaluate, requirementsOf} from '../../../lib/openbao/verify-plan.js'
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
