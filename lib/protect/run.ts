import type {KubeConfig} from '@kubernetes/client-node'
import {CloudtaserError, ExitCode} from '../errors.js'
import type {LoadedPlan} from '../plan/io.js'
import type {MigrationPlan, SecretReference, Tenant, Workload} from '../plan/types.generated.js'
import {acquireLease, holderIdentity, type HeldLease} from './lease.js'
import {PlanWriter} from './plan-writer.js'
import {waitForRollout} from './rollout.js'
import {computeProtect, type WorkloadChange} from './transform.js'
import {statusCode, workloadApi, type WorkloadApi} from './workload-api.js'
import {clusterFingerprint} from '../kube/fingerprint.js'
import type {LiveWorkload} from '../kube/pod-template.js'

export type Decision = 'approve' | 'skip' | 'quit'

export interface WorkloadRef {
  tenant: string
  namespace: string
  kind: Workload['kind']
  name: string
}

export interface Preview extends WorkloadRef {
  change: Omit<WorkloadChange, 'next'>
}

export type Outcome = 'migrated' | 'skipped' | 'failed' | 'unchanged' | 'would-protect' | 'would-record' | 'would-skip' | 'not-started'

export interface WorkloadOutcome extends WorkloadRef {
  outcome: Outcome
  reason?: string
  annotations?: Record<string, string>
  removed?: number
  delivered?: string[]
}

export interface ProtectResult {
  plan: string
  dryRun: boolean
  processed: WorkloadOutcome[]
  alreadyDone: number
  planWrites: number
}

export type ProtectEvent =
  | {type: 'start'; pending: number; alreadyDone: number}
  | {type: 'preview'; preview: Preview}
  | {type: 'progress'; workload: WorkloadRef; message: string}
  | {type: 'outcome'; outcome: WorkloadOutcome}

export interface ProtectOptions {
  kc: KubeConfig
  loaded: LoadedPlan
  actor: string
  dryRun?: boolean
  /** Called per workload before patching; absent means approve all (--yes). */
  decide?: (preview: Preview) => Promise<Decision>
  wait?: boolean
  timeoutMs?: number
  vaultAddress?: string
  concurrency?: number
  signal?: AbortSignal
  onEvent?: (e: ProtectEvent) => void
}

const now = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')

export async function checkFingerprint(kc: KubeConfig, plan: MigrationPlan): Promise<void> {
  const expected = plan.metadata.cluster?.fingerprint
  if (!expected) {
    throw new CloudtaserError('PLAN_NO_FINGERPRINT', 'the plan names no cluster fingerprint, so it cannot be matched to this cluster', {
      exitCode: ExitCode.CHECK_FAILED,
      hint: 'Plans written by `cloudtaser target discover` carry metadata.cluster.fingerprint; add it from `cloudtaser target fingerprint`.',
    })
  }
  const actual = (await clusterFingerprint(kc)).uid
  if (actual !== expected) {
    throw new CloudtaserError('PROTECT_WRONG_CLUSTER', `the plan is for cluster ${plan.metadata.cluster?.name} (${expected}) but the current context points at ${actual}`, {
      exitCode: ExitCode.CONFLICT,
      hint: 'Select the right cluster with --context or KUBECONFIG.',
      details: {expected, actual},
    })
  }
}

interface Item extends WorkloadRef {
  tenantObj: Tenant
  workload: Workload
}

export const isDone = (w: Workload): boolean => w.status.state === 'migrated' || w.status.state === 'skipped' || w.vanished === true

/** Pool of `n` workers over `items`; stops taking new items once `stop()` says so. */
async function pool<T>(items: T[], n: number, stop: () => boolean, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length && !stop()) await work(items[next++]!)
  }
  await Promise.all(Array.from({length: Math.max(1, Math.min(n, items.length))}, worker))
}

const sameRefs = (a: SecretReference[] | undefined, b: SecretReference[]): boolean => JSON.stringify(a ?? []) === JSON.stringify(b)

export async function protect(options: ProtectOptions): Promise<ProtectResult> {
  const {kc, loaded} = options
  const emit = options.onEvent ?? (() => undefined)
  const plan = loaded.plan
  await checkFingerprint(kc, plan)
  const vaultAddress = options.vaultAddress ?? plan.openbao?.address
  if (!vaultAddress) {
    throw new CloudtaserError('PROTECT_NO_ADDRESS', 'no OpenBao address for the pods: the plan has no openbao.address', {
      exitCode: ExitCode.CONFIG,
      hint: 'Set openbao.address in the plan (reviewed like everything else) or pass --vault-address.',
    })
  }
  const settings = {vaultAddress}
  const api = workloadApi(kc)

  const items: Item[] = plan.tenants.flatMap((t) =>
    t.workloads.filter((w) => !isDone(w)).map((w) => ({tenant: t.name, namespace: t.namespace, kind: w.kind, name: w.name, tenantObj: t, workload: w})),
  )
  const alreadyDone = plan.tenants.reduce((n, t) => n + t.workloads.filter(isDone).length, 0)
  emit({type: 'start', pending: items.length, alreadyDone})

  let lease: HeldLease | undefined
  if (!options.dryRun) lease = await acquireLease(kc, {holder: holderIdentity(options.actor)})
  const writer = new PlanWriter(loaded)
  const processed: WorkloadOutcome[] = []
  let quit = false
  const stop = (): boolean => quit || options.signal?.aborted === true
  const finish = (o: WorkloadOutcome): void => {
    processed.push(o)
    emit({type: 'outcome', outcome: o})
  }
  const setStatus = (item: Item, status: Workload['status']): void =>
    writer.update(item.namespace, item.kind, item.name, (w) => {
      w.status = status
    })

  try {
    // Observe everything first, so the references protect will remove are in the plan on disk
    // before the first patch: if the run dies mid-way, unprotect still knows what to restore.
    const observed = new Map<Item, {live: LiveWorkload; change: WorkloadChange} | undefined>()
    await pool(items, options.concurrency ?? 8, stop, async (item) => {
      const live = await api.get(item.kind, item.namespace, item.name)
      observed.set(item, live ? {live, change: computeProtect(plan, item.tenantObj, item.workload, live, settings)} : undefined)
    })
    for (const [item, o] of observed) {
      if (!o || (o.change.removed.length === 0 && o.change.kept.length === 0)) continue
      writer.update(item.namespace, item.kind, item.name, (w) => {
        for (const s of w.secrets) {
          const refs = o.change.references[s.source.name] ?? []
          if (refs.length > 0 && !sameRefs(s.references, refs)) s.references = refs
        }
      })
    }
    if (options.dryRun) {
      for (const item of items) {
        const o = observed.get(item)
        if (!o) finish({...ref(item), outcome: 'failed', reason: 'not found in the cluster'})
        else {
          emit({type: 'preview', preview: {...ref(item), change: withoutNext(o.change)}})
          if (o.change.action === 'skip') finish({...ref(item), outcome: 'would-skip', reason: o.change.skipReason})
          else finish({...ref(item), outcome: o.change.action === 'protect' ? 'would-protect' : 'would-record', annotations: o.change.annotations, removed: o.change.removed.length, delivered: o.change.delivered})
        }
      }
      return {plan: loaded.file, dryRun: true, processed, alreadyDone, planWrites: 0}
    }
    await writer.flush()

    const interactive = options.decide !== undefined
    const deadline = (): number => Date.now() + (options.timeoutMs ?? 300_000)
    await pool(items, interactive ? 1 : (options.concurrency ?? 8), stop, async (item) => {
      const o = observed.get(item)
      if (!o) {
        setStatus(item, {state: 'failed', at: now(), by: options.actor, reason: `${item.kind} ${item.namespace}/${item.name} not found in the cluster`})
        return finish({...ref(item), outcome: 'failed', reason: 'not found in the cluster'})
      }
      if (o.change.action === 'skip') {
        setStatus(item, {state: 'skipped', at: now(), by: options.actor, reason: o.change.skipReason!})
        return finish({...ref(item), outcome: 'skipped', reason: o.change.skipReason})
      }
      if (o.change.action === 'unchanged') {
        // Protected by an earlier run that died before recording it.
        setStatus(item, {state: 'migrated', at: now(), by: options.actor, revision: o.live.metadata?.generation})
        return finish({...ref(item), outcome: 'unchanged', reason: 'already protected in the cluster'})
      }
      if (options.decide) {
        emit({type: 'preview', preview: {...ref(item), change: withoutNext(o.change)}})
        const decision = await options.decide({...ref(item), change: withoutNext(o.change)})
        if (decision === 'quit') {
          quit = true
          return finish({...ref(item), outcome: 'not-started', reason: 'quit before this workload'})
        }
        if (decision === 'skip') {
          setStatus(item, {state: 'skipped', at: now(), by: options.actor, reason: 'skipped in interactive review'})
          return finish({...ref(item), outcome: 'skipped'})
        }
      }
      try {
        const updated = await replaceWithRetry(api, plan, item, o, settings)
        if (options.wait) {
          const state = await Promise.race([
            waitForRollout(kc, item.kind, updated, deadline(), (message) => emit({type: 'progress', workload: ref(item), message})),
            ...(lease ? [lease.lost] : []),
          ])
          if (!state.done) throw new Error(`rollout not finished: ${state.message}`)
        }
        setStatus(item, {state: 'migrated', at: now(), by: options.actor, revision: updated.metadata?.generation})
        finish({...ref(item), outcome: 'migrated', annotations: o.change.annotations, removed: o.change.removed.length, delivered: o.change.delivered})
      } catch (err) {
        if (err instanceof CloudtaserError && err.code === 'PROTECT_LEASE_LOST') throw err
        const reason = `${(err as Error).message}`.slice(0, 500)
        setStatus(item, {state: 'failed', at: now(), by: options.actor, reason})
        finish({...ref(item), outcome: 'failed', reason})
      }
    })
    await writer.flush()
    return {plan: loaded.file, dryRun: false, processed, alreadyDone, planWrites: writer.writes}
  } finally {
    await writer.flush().catch(() => undefined)
    await lease?.release()
  }
}

const ref = (i: Item): WorkloadRef => ({tenant: i.tenant, namespace: i.namespace, kind: i.kind, name: i.name})
const withoutNext = (c: WorkloadChange): Omit<WorkloadChange, 'next'> => {
  const {next: _next, ...rest} = c
  return rest
}

/** PUT with the observed resourceVersion; on a conflict, read again and recompute (never a blind overwrite). */
async function replaceWithRetry(
  api: WorkloadApi,
  plan: MigrationPlan,
  item: Item,
  first: {live: LiveWorkload; change: WorkloadChange},
  settings: {vaultAddress: string},
): Promise<LiveWorkload> {
  let change = first.change
  let live = first.live
  for (let attempt = 0; ; attempt++) {
    if (change.action !== 'protect') return live
    try {
      return await api.replace(item.kind, change.next)
    } catch (err) {
      if (statusCode(err) !== 409 || attempt >= 4) throw err
      const fresh = await api.get(item.kind, item.namespace, item.name)
      if (!fresh) throw new Error('the workload was deleted while being protected')
      live = fresh
      change = computeProtect(plan, item.tenantObj, item.workload, live, settings)
    }
  }
}
