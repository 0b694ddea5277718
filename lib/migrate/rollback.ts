import {mapBounded} from '../bounded.js'
import {CloudtaserError} from '../errors.js'
import type {KubeHttp} from '../kube/http.js'
import {createSecret} from '../kube/secret-values.js'
import {readKvValues} from '../openbao/kv-values.js'
import type {MigratedSecret} from '../plan/types.generated.js'
import {PlanWriter} from '../protect/plan-writer.js'
import {RunDigest} from './digest.js'
import {fromKv} from './encoding.js'
import {compareWithKv, observeSource} from './observe.js'
import {openSession, type CutoverStepOptions} from './session.js'
import {targetsOf, type Target} from './targets.js'
import {planRollback} from './transform.js'
import {now, upsertRecord} from './units.js'

export interface RollbackOutcome {
  namespace: string
  name: string
  outcome: 'restored' | 'present' | 'would-restore' | 'skipped' | 'failed'
  kvVersion?: number
  reason?: string
}

export interface RollbackResult {
  plan: string
  dryRun: boolean
  processed: RollbackOutcome[]
  counts: Partial<Record<RollbackOutcome['outcome'], number>>
  planWrites: number
}

export type RollbackOptions = CutoverStepOptions<RollbackOutcome>

/**
 * Recreates each recorded Secret that is gone from Kubernetes, from OpenBao's current version
 * (what the workloads were last given), with the type, labels and annotations recorded at copy
 * time; binary fields are decoded back. The created Secret is read back and compared with the KV
 * version by digest before the plan records it. Run it before `target unprotect`, which points
 * the workloads at the Secrets again. A Secret that exists is left as it is.
 */
export async function rollback(options: RollbackOptions): Promise<RollbackResult> {
  const {loaded} = options
  const targets = targetsOf(loaded.plan, options.secrets).filter((t) => t.record)
  const session = await openSession(options, !options.dryRun)
  const writer = new PlanWriter(loaded)
  const digest = new RunDigest()
  const processed: RollbackOutcome[] = []
  let quit = false
  const done = (o: RollbackOutcome): void => {
    processed.push(o)
    options.onOutcome?.(o)
  }
  try {
    await mapBounded(targets, options.decide ? 1 : (options.concurrency ?? 8), async (t) => {
      if (quit || session.lost()) return
      const ref = {namespace: t.namespace, name: t.name}
      try {
        const o = await rollbackOne(t, options, digest, session.http, writer, async () => {
          if (options.dryRun) return false
          const d = options.decide ? await options.decide(ref) : 'approve'
          quit ||= d === 'quit'
          if (d === 'approve') session.assertHeld()
          return d === 'approve'
        })
        done({...ref, ...o})
      } catch (err) {
        if (err instanceof CloudtaserError && err.code === 'PROTECT_LEASE_LOST') throw err
        done({...ref, outcome: 'failed', reason: (err as Error).message.slice(0, 500)})
      }
    })
    await writer.flush()
  } finally {
    digest.destroy()
    await writer.flush().catch(() => undefined)
    await session.close()
  }
  const counts: RollbackResult['counts'] = {}
  for (const p of processed) counts[p.outcome] = (counts[p.outcome] ?? 0) + 1
  return {plan: loaded.file, dryRun: Boolean(options.dryRun), processed, counts, planWrites: writer.writes}
}

type Result = Omit<RollbackOutcome, 'namespace' | 'name'>

async function rollbackOne(t: Target, options: RollbackOptions, digest: RunDigest, http: KubeHttp, writer: PlanWriter, approve: () => Promise<boolean>): Promise<Result> {
  const record = t.record!
  if (!t.mount || !t.path) return {outcome: 'failed', reason: `${record.vaultPath} is not under a KV mount of the plan`}
  const at = {mount: t.mount, path: t.path}
  const observed = await observeSource(http, t.namespace, t.name)
  try {
    const action = planRollback(record, observed?.secret)
    if (action.kind === 'present') {
      // A run killed after the create and before the plan write: the Secret is there and equal to OpenBao's current version.
      if (record.state === 'deleted' && !options.dryRun) {
        const kv = await compareWithKv(options.bao, digest, at, observed!.secret.values, record.base64Fields ?? [])
        if (kv.state === 'ok' && kv.equal) {
          recordRestored(writer, t, record, options.actor, observed!.secret.uid, kv.version!)
          return {outcome: 'restored', kvVersion: kv.version, reason: 'found recreated with OpenBao\'s values (an earlier rollback)'}
        }
      }
      return {outcome: 'present', reason: action.reason}
    }
  } finally {
    observed?.secret.values.wipe()
  }
  const read = await readKvValues(options.bao, at.mount, at.path)
  const values = fromKv(read.values, record.base64Fields ?? [])
  try {
    if (read.state !== 'ok') return {outcome: 'failed', reason: `OpenBao has no readable current version of ${record.vaultPath} (${read.state}): nothing to restore from`}
    if (options.dryRun) return {outcome: 'would-restore', kvVersion: read.version}
    if (!(await approve())) return {outcome: 'skipped', reason: 'not approved'}
    const created = await createSecret(http, {namespace: t.namespace, name: t.name, type: record.type, immutable: record.immutable, labels: record.labels, annotations: record.annotations}, values)
    if (created === 'exists') return {outcome: 'present', reason: 'created by someone else meanwhile; left as it is'}
    // Proof: the Secret as the apiserver now serves it equals the KV version by digest.
    const back = await observeSource(http, t.namespace, t.name)
    try {
      const equal = back !== undefined && RunDigest.equal(digest.ofSecret(back.secret.values), digest.ofSecret(values))
      if (!equal) return {outcome: 'failed', kvVersion: read.version, reason: 'the recreated Secret read back does not equal OpenBao\'s values; nothing recorded'}
    } finally {
      back?.secret.values.wipe()
    }
    recordRestored(writer, t, record, options.actor, created.uid, read.version!)
    return {outcome: 'restored', kvVersion: read.version}
  } finally {
    values.wipe()
    read.values.wipe()
  }
}

function recordRestored(writer: PlanWriter, t: Target, record: MigratedSecret, by: string, uid: string, kvVersion: number): void {
  writer.updateTenant(t.namespace, (tenant) => upsertRecord(tenant, {...record, state: 'restored', restore: {at: now(), by, uid, kvVersion}}))
}
