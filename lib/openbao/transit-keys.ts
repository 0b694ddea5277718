import type {MigrationPlan} from '../plan/types.generated.js'
import type {Action} from './actions.js'
import type {BaoClient} from './bao-client.js'
import {baoError} from './errors.js'
import {activeWorkloads} from './plan-paths.js'

/**
 * The Transit keys the plan's S3 proxies wrap their data keys with (docs/s3-proxy.md): apply-plan
 * creates a missing mount and a missing key, verify-plan reports one. An existing key is only
 * read: its type, versions, rotation and deletion settings are its owner's, never rewritten here.
 */
export interface TransitNeed {
  mount: string
  key: string
  /** `namespace/Kind/name` of the workloads whose proxy uses it. */
  workloads: string[]
}

/** Pure: one entry per mount and key, sorted. */
export function transitNeedsOf(plan: MigrationPlan): TransitNeed[] {
  const by = new Map<string, TransitNeed>()
  for (const t of plan.tenants) {
    for (const w of activeWorkloads(t)) {
      if (!w.s3Proxy) continue
      const mount = w.s3Proxy.transitMount ?? 'transit'
      const id = `${mount}/${w.s3Proxy.transitKey}`
      const need = by.get(id) ?? {mount, key: w.s3Proxy.transitKey, workloads: []}
      need.workloads.push(`${t.namespace}/${w.kind}/${w.name}`)
      by.set(id, need)
    }
  }
  return [...by.keys()].sort().map((id) => by.get(id)!)
}

/** `present`: the key exists; `missing`: the mount does but not the key; `no-mount`; `not-transit`: the mount is another engine. */
export type TransitKeyState = 'present' | 'missing' | 'no-mount' | 'not-transit'

export interface TransitKeyCheck extends TransitNeed {
  state: TransitKeyState
  /** For not-transit: the engine mounted there. */
  mountType?: string
}

/**
 * One read of the mount table and one of each key's metadata (never key material: Transit does
 * not export it). A token that may not read sys/mounts is answered by the key reads alone.
 */
export async function observeTransit(client: BaoClient, needs: readonly TransitNeed[]): Promise<TransitKeyCheck[]> {
  if (needs.length === 0) return []
  const table = await client.call<{data?: Record<string, {type?: string}>}>('GET', 'sys/mounts', {accept: [403]})
  const mounts = table.status === 200 ? ((table.body?.data ?? table.body ?? {}) as Record<string, {type?: string}>) : undefined
  const out: TransitKeyCheck[] = []
  for (const n of needs) {
    const type = mounts ? (mounts[`${n.mount}/`]?.type ?? null) : undefined
    if (type === null) out.push({...n, state: 'no-mount'})
    else if (type !== undefined && type !== 'transit') out.push({...n, state: 'not-transit', mountType: type})
    else {
      const r = await client.call('GET', `${n.mount}/keys/${n.key}`, {accept: [403, 404]})
      // Without the mount table, a 403 may mean no mount: OpenBao answers 403 for a path under none,
      // even to root. So the grant that settles it is named: the table, or (the mount seen) the key.
      if (r.status === 403) throw type === undefined ? baoError.permissionDenied('GET', 'sys/mounts', 'read') : baoError.permissionDenied('GET', `${n.mount}/keys/${n.key}`, 'read')
      out.push({...n, state: r.status === 200 ? 'present' : 'missing'})
    }
  }
  return out
}

/** Pure: a mount per missing mount, a key per missing key; any other engine at the mount is a conflict. */
export function planTransit(checks: readonly TransitKeyCheck[]): Action[] {
  const actions: Action[] = []
  const mounts = new Map<string, Action>()
  for (const c of checks) {
    if (!mounts.has(c.mount)) {
      const base = {resource: 'transit-mount' as const, name: `${c.mount}/`}
      mounts.set(
        c.mount,
        c.state === 'no-mount'
          ? {...base, kind: 'create', reason: 'Transit secrets engine'}
          : c.state === 'not-transit'
            ? {...base, kind: 'conflict', reason: `is a ${c.mountType} mount, not Transit; name another transitMount in the plan`}
            : {...base, kind: 'unchanged'},
      )
      actions.push(mounts.get(c.mount)!)
    }
    if (c.state === 'not-transit') continue
    const key = {resource: 'transit-key' as const, name: `${c.mount}/keys/${c.key}`}
    actions.push(c.state === 'present' ? {...key, kind: 'unchanged'} : {...key, kind: 'create', reason: `aes256-gcm96, not exportable; for ${c.workloads.join(', ')}`})
  }
  return actions
}

/** Mounts first, then keys; each only where the plan said create. */
export async function executeTransit(client: BaoClient, actions: readonly Action[]): Promise<void> {
  const todo = (resource: Action['resource']) => actions.filter((a) => a.resource === resource && a.kind === 'create')
  for (const a of todo('transit-mount')) await client.write(`sys/mounts/${a.name.replace(/\/$/, '')}`, {type: 'transit', description: 'cloudtaser: the S3 proxy\'s data-key wrapping keys'})
  // A key created meanwhile is left as it is: OpenBao answers 200 and keeps its type, versions and
  // config (seen by hand: a chacha20 key stayed one; lab.test.ts checks a rotated, reconfigured key).
  for (const a of todo('transit-key')) await client.write(a.name, {type: 'aes256-gcm96'})
}
