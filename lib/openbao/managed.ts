import {mapBounded} from '../bounded.js'
import type {Action} from './actions.js'
import type {OpenBaoClient} from './client.js'
import {baoError} from './errors.js'
import {jwtRoleBody, roleSpecOfJwt} from './jwt-role.js'
import {ownershipOf, samePolicyText} from './policy.js'

/**
 * Policies and auth roles that cloudtaser owns (apply-plan per tenant, configure for the
 * operator): desired state -> observe -> pure plan -> execute. A role is planned as "these
 * ServiceAccounts of this namespace"; on a `kubernetes` mount it is written as such, on a `jwt`
 * mount (beacon mode: OpenBao cannot reach the apiserver for a TokenReview) as the same
 * ServiceAccounts' token subjects with the broker's token audience (jwt-role.ts).
 */
export interface DesiredPolicy {
  name: string
  text: string
  tenant?: string
}

/** The role fields cloudtaser sets; every other field keeps OpenBao's default. */
export interface RoleSpec {
  bound_service_account_names: string[]
  bound_service_account_namespaces: string[]
  token_policies: string[]
  /** Seconds. */
  token_ttl: number
  token_max_ttl: number
}

export interface DesiredRole {
  name: string
  spec: RoleSpec
  tenant?: string
}

export interface ManagedSet {
  /** Written into each policy's marker line: `plan=<name>` or `component=operator`. */
  owner: string
  authMount: string
  policies: DesiredPolicy[]
  roles: DesiredRole[]
}

export type AuthType = 'kubernetes' | 'jwt'

export interface ObservedState {
  /** Policy text by name; absent = no such policy. */
  policies: Map<string, string>
  roles: Map<string, RoleSpec>
  /** The auth mount's type; undefined when the token may not read the mount table (kubernetes assumed). */
  authType?: AuthType
}

const ROLE_FIELDS = ['bound_service_account_names', 'bound_service_account_namespaces', 'token_policies', 'token_ttl', 'token_max_ttl'] as const

const sameSet = (a: readonly string[], b: readonly string[]) => a.length === b.length && [...a].sort().join('\0') === [...b].sort().join('\0')

export function roleDiff(want: RoleSpec, have: RoleSpec): string[] {
  return ROLE_FIELDS.filter((f) => {
    const w = want[f]
    const h = have[f]
    return Array.isArray(w) ? !sameSet(w, (h as string[]) ?? []) : w !== h
  })
}

/** Pure: what to do for each policy and role. */
export function planManaged(set: ManagedSet, observed: ObservedState, options: {force?: boolean} = {}): Action[] {
  const actions: Action[] = []
  const ours = new Set<string>()
  const dup = duplicates(set)
  for (const p of set.policies) {
    const base = {resource: 'policy' as const, name: p.name, tenant: p.tenant}
    if (dup.policies.has(p.name)) {
      actions.push({...base, kind: 'conflict', reason: `the plan gives this policy name to several tenants (${dup.policies.get(p.name)!.join(', ')})`})
      continue
    }
    const have = observed.policies.get(p.name)
    if (have === undefined) {
      ours.add(p.name)
      actions.push({...base, kind: 'create'})
      continue
    }
    const owner = ownershipOf(have)
    if (owner.managed && owner.owner === set.owner) ours.add(p.name)
    if (samePolicyText(have, p.text)) {
      actions.push({...base, kind: 'unchanged'})
      continue
    }
    if (!ours.has(p.name) && !options.force) {
      const who = owner.managed ? `managed by cloudtaser for ${owner.owner}` : 'not created by cloudtaser'
      actions.push({...base, kind: 'conflict', reason: `exists and is ${who}; --force overwrites it`})
      continue
    }
    ours.add(p.name)
    actions.push({...base, kind: 'update', reason: owner.managed && owner.owner === set.owner ? 'paths differ' : 'overwritten (--force)'})
  }
  for (const r of set.roles) {
    const base = {resource: 'role' as const, name: r.name, tenant: r.tenant}
    if (dup.roles.has(r.name)) {
      actions.push({...base, kind: 'conflict', reason: `the plan gives this role name to several tenants (${dup.roles.get(r.name)!.join(', ')})`})
      continue
    }
    const have = observed.roles.get(r.name)
    if (!have) {
      actions.push({...base, kind: 'create'})
      continue
    }
    const changes = roleDiff(r.spec, have)
    if (changes.length === 0) {
      actions.push({...base, kind: 'unchanged'})
      continue
    }
    // Roles carry no metadata: a role is ours when it grants only policies cloudtaser owns.
    const mine = have.token_policies.length > 0 && have.token_policies.every((p) => ours.has(p) || ownedByOwner(observed, p, set.owner))
    if (!mine && !options.force) {
      actions.push({...base, kind: 'conflict', changes, reason: `exists with policies [${have.token_policies.join(', ')}] that cloudtaser does not own; --force overwrites it`})
      continue
    }
    actions.push({...base, kind: 'update', changes, reason: `${changes.join(', ')} differ${mine ? '' : ' (--force)'}`})
  }
  return actions
}

const ownedByOwner = (observed: ObservedState, policy: string, owner: string) => {
  const text = observed.policies.get(policy)
  if (text === undefined) return false
  const o = ownershipOf(text)
  return o.managed && o.owner === owner
}

function duplicates(set: ManagedSet): {policies: Map<string, string[]>; roles: Map<string, string[]>} {
  const find = (items: {name: string; tenant?: string}[]) => {
    const by = new Map<string, string[]>()
    for (const i of items) by.set(i.name, [...(by.get(i.name) ?? []), i.tenant ?? '-'])
    return new Map([...by].filter(([, ts]) => ts.length > 1))
  }
  return {policies: find(set.policies), roles: find(set.roles)}
}

interface RoleRead {
  data?: Partial<RoleSpec>
}

/** Reads the current policies and roles (bounded concurrency). Never touches secret paths. */
export async function observeManaged(client: OpenBaoClient, set: ManagedSet, concurrency = 8): Promise<ObservedState> {
  const policies = new Map<string, string>()
  const roles = new Map<string, RoleSpec>()
  const authType = set.roles.length > 0 ? await requireAuthMount(client, set.authMount) : undefined
  await mapBounded(set.policies, concurrency, async (p) => {
    const r = await client.read<{data?: {policy?: string}}>(`sys/policies/acl/${p.name}`)
    if (r?.data?.policy !== undefined) policies.set(p.name, r.data.policy)
  })
  // Roles may point at policies outside the set; fetch those too, to judge ownership.
  await mapBounded(set.roles, concurrency, async (role) => {
    const r = await client.call<RoleRead & {errors?: string[]}>('GET', `auth/${set.authMount}/role/${role.name}`, {accept: [404]})
    if (r.status === 404) {
      if (r.body?.errors?.some((e) => /no handler for route/.test(e))) throw baoError.authMountMissing(set.authMount)
      return
    }
    const d = r.body?.data ?? {}
    if (authType === 'jwt') return void roles.set(role.name, roleSpecOfJwt(d))
    roles.set(role.name, {
      bound_service_account_names: d.bound_service_account_names ?? [],
      bound_service_account_namespaces: d.bound_service_account_namespaces ?? [],
      token_policies: d.token_policies ?? [],
      token_ttl: d.token_ttl ?? 0,
      token_max_ttl: d.token_max_ttl ?? 0,
    })
  })
  const extra = new Set([...roles.values()].flatMap((r) => r.token_policies).filter((p) => !policies.has(p) && !set.policies.some((d) => d.name === p)))
  await mapBounded([...extra], concurrency, async (name) => {
    const r = await client.read<{data?: {policy?: string}}>(`sys/policies/acl/${name}`)
    if (r?.data?.policy !== undefined) policies.set(name, r.data.policy)
  })
  return {policies, roles, authType}
}

/**
 * A role path under a missing mount can still route into a parent mount (auth/kubernetes/prod/…
 * into auth/kubernetes/), so the mount table is asked when the token may read it.
 */
async function requireAuthMount(client: OpenBaoClient, mount: string): Promise<AuthType | undefined> {
  const type = await authMountType(client, mount)
  if (type === null) return undefined
  if (type !== 'kubernetes' && type !== 'jwt') throw baoError.authMountMissing(mount)
  return type
}

/** The type of the auth method at `auth/<mount>/` (undefined: none), or null when the token may not read the mount table. */
export async function authMountType(client: OpenBaoClient, mount: string): Promise<string | undefined | null> {
  const r = await client.call<{data?: Record<string, {type?: string}>}>('GET', 'sys/auth', {accept: [403]})
  if (r.status !== 200) return null
  const table = (r.body?.data ?? r.body ?? {}) as Record<string, {type?: string}>
  return table[`${mount}/`]?.type
}

/** Applies create and update actions: all policies first, so no role ever names a missing policy. */
export async function executeManaged(client: OpenBaoClient, set: ManagedSet, actions: readonly Action[], authType: AuthType | undefined, concurrency = 8): Promise<void> {
  const todo = (resource: Action['resource']) => actions.filter((a) => a.resource === resource && (a.kind === 'create' || a.kind === 'update'))
  const policyText = new Map(set.policies.map((p) => [p.name, p.text]))
  const roleSpec = new Map(set.roles.map((r) => [r.name, r.spec]))
  await mapBounded(todo('policy'), concurrency, (a) => client.write(`sys/policies/acl/${a.name}`, {policy: policyText.get(a.name)}, 'PUT'))
  await mapBounded(todo('role'), concurrency, (a) => client.write(`auth/${set.authMount}/role/${a.name}`, authType === 'jwt' ? jwtRoleBody(roleSpec.get(a.name)!) : roleSpec.get(a.name)))
}
