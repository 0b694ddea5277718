// The pure transform (desired, observed) -> actions, without a server.
import t from 'tap'
import {planManaged, type ManagedSet, type ObservedState, type RoleSpec} from '../../../lib/openbao/managed.js'
import {renderPolicy} from '../../../lib/openbao/policy.js'

const spec: RoleSpec = {bound_service_account_names: ['api'], bound_service_account_namespaces: ['shop'], token_policies: ['p-shop'], token_ttl: 900, token_max_ttl: 3600}
const text = renderPolicy('plan=prod', ['tenant=shop'], [{path: 'secret/data/prod/shop/db', capabilities: ['read']}])
const set: ManagedSet = {owner: 'plan=prod', authMount: 'kubernetes', policies: [{name: 'p-shop', text, tenant: 'shop'}], roles: [{name: 'r-shop', spec, tenant: 'shop'}]}
const observed = (policies: Record<string, string> = {}, roles: Record<string, RoleSpec> = {}): ObservedState => ({
  policies: new Map(Object.entries(policies)),
  roles: new Map(Object.entries(roles)),
})
const kinds = (a: {resource: string; kind: string}[]) => a.map((x) => `${x.resource}:${x.kind}`)

t.test('nothing there: create both', async (t) => {
  t.same(kinds(planManaged(set, observed())), ['policy:create', 'role:create'])
})

t.test('as desired: unchanged (ordering of lists and trailing blanks do not matter)', async (t) => {
  const role = {...spec, bound_service_account_names: ['api']}
  t.same(kinds(planManaged(set, observed({'p-shop': `${text}\n\n`}, {'r-shop': role}))), ['policy:unchanged', 'role:unchanged'])
})

t.test('ours but drifted: update, naming the fields', async (t) => {
  const drifted = renderPolicy('plan=prod', [], [{path: 'secret/data/*', capabilities: ['read']}])
  const a = planManaged(set, observed({'p-shop': drifted}, {'r-shop': {...spec, token_ttl: 60, bound_service_account_names: ['api', 'intruder']}}))
  t.same(kinds(a), ['policy:update', 'role:update'])
  t.same(a[1]!.changes, ['bound_service_account_names', 'token_ttl'])
})

t.test('a foreign policy is a conflict unless --force', async (t) => {
  const foreign = 'path "secret/*" { capabilities = ["read"] }'
  const a = planManaged(set, observed({'p-shop': foreign}, {'r-shop': {...spec, token_ttl: 1}}))
  t.same(kinds(a), ['policy:conflict', 'role:conflict'])
  t.match(a[0]!.reason, /not created by cloudtaser; --force/)
  t.same(kinds(planManaged(set, observed({'p-shop': foreign}), {force: true})), ['policy:update', 'role:create'])
})

t.test('a policy managed for another plan is a conflict', async (t) => {
  const other = renderPolicy('plan=staging', [], [{path: 'secret/data/x', capabilities: ['read']}])
  const a = planManaged(set, observed({'p-shop': other}))
  t.equal(a[0]!.kind, 'conflict')
  t.match(a[0]!.reason, /managed by cloudtaser for plan=staging/)
})

t.test('a role granting a foreign policy is not ours', async (t) => {
  const a = planManaged(set, observed({'p-shop': text, admin: 'path "*" {capabilities=["sudo"]}'}, {'r-shop': {...spec, token_policies: ['admin']}}))
  t.same(kinds(a), ['policy:unchanged', 'role:conflict'])
  t.match(a[1]!.reason, /policies \[admin\]/)
})

t.test('two tenants sharing one policy or role name conflict', async (t) => {
  const dup: ManagedSet = {...set, policies: [...set.policies, {name: 'p-shop', text, tenant: 'other'}], roles: [...set.roles, {name: 'r-shop', spec, tenant: 'other'}]}
  const a = planManaged(dup, observed())
  t.same(kinds(a), ['policy:conflict', 'policy:conflict', 'role:conflict', 'role:conflict'])
  t.match(a[0]!.reason, /shop, other/)
})

t.test('mapBounded: never more than the limit in flight, results in order, first error wins', async (t) => {
  const {mapBounded} = await import('../../../lib/bounded.js')
  let inFlight = 0
  let peak = 0
  const out = await mapBounded([...Array(50).keys()], 8, async (i) => {
    peak = Math.max(peak, ++inFlight)
    await new Promise((r) => setTimeout(r, 1 + (i % 3)))
    inFlight--
    return i * 2
  })
  t.equal(peak, 8)
  t.same(out, [...Array(50).keys()].map((i) => i * 2))
  await t.rejects(mapBounded([1, 2, 3], 2, async (i) => {
    if (i === 2) throw new Error('boom')
    return i
  }), {message: 'boom'})
  t.same(await mapBounded([], 8, async () => 1), [])
})
