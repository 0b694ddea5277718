import type {KubeConfig} from '@kubernetes/client-node'
import {mapBounded} from '../bounded.js'
import {CloudtaserError} from '../errors.js'
import type {KubeHttp} from '../kube/http.js'
import type {BaoClient, ClientStats} from '../openbao/bao-client.js'
import {detectKvMount} from '../openbao/kv.js'
import {writeKvValues} from '../openbao/kv-values.js'
import type {LoadedPlan} from '../plan/io.js'
import {PlanWriter} from '../protect/plan-writer.js'
import {RunDigest} from './digest.js'
import {toKv} from './encoding.js'
import {compareWithKv, observeSource, type KvComparison} from './observe.js'
import {openSession, type Session} from './session.js'
import {copyRecord, planWrite, precheck, type CopyAction, type KvObservation} from './transform.js'
import {now, unitsOf, upsertRecord, type SecretUnit} from './units.js'

export type CopyOutcomeKind =
  | 'copied'
  | 'updated'
  | 'recorded'
  | 'already'
  | 'conflict'
  | 'skipped'
  | 'failed'
  | 'drift'
  | 'would-create'
  | 'would-update'
  | 'would-record'

export interface CopyOutcome {
  namespace: string
  name: string
  vaultPath: string
  outcome: CopyOutcomeKind
  kvVersion?: number
  /** Field names copied (never values). */
  fields?: string[]
  base64Fields?: string[]
  /** For a conflict: the fields that differ, by name. */
  differing?: string[]
  keep?: string
  reason?: string
}

export interface CopyResult {
  plan: string
  dryRun: boolean
  overwrite: boolean
  processed: CopyOutcome[]
  counts: Partial<Record<CopyOutcomeKind, number>>
  planWrites: number
  requests: {kubernetes: number; openbao: ClientStats}
  ms: number
}

export interface CopyOptions {
  kc: KubeConfig
  loaded: LoadedPlan
  /**
   * How OpenBao is reached: directly (OpenBaoClient: BAO_ADDR and the token), or in beacon mode
   * through the apiserver's service proxy and the broker as the migrator role
   * (lib/openbao/via-broker.ts); nothing here changes (docs/migrate.md).
   */
  bao: BaoClient
  actor: string
  dryRun?: boolean
  overwrite?: boolean
  concurrency?: number
  signal?: AbortSignal
  onOutcome?: (o: CopyOutcome) => void
  /** A Kubernetes client to reuse (the bench counts its requests); default: one from kc. */
  http?: KubeHttp
}

/**
 * `target migrate`: every Secret of the plan's active workloads, field by field, into the KV v2
 * path the plan maps it to. Per Secret: read it (values into wiped buffers), decide from the plan
 * record and OpenBao's state, write with check-and-set, read the version back and compare by
 * the run's digest, record it in the plan. Each step is idempotent, so a run killed anywhere
 * converges when run again: an equal value already in OpenBao is recorded, not written twice.
 */
export async function copySecrets(options: CopyOptions): Promise<CopyResult> {
  const t0 = performance.now()
  const {loaded, bao} = options
  const units = unitsOf(loaded.plan)
  const session = await openSession(options, !options.dryRun)
  for (const m of [...new Set(units.map((u) => u.mount))].sort()) await detectKvMount(bao, m)
  const writer = new PlanWriter(loaded)
  const digest = new RunDigest()
  const processed: CopyOutcome[] = []
  try {
    await mapBounded(units, options.concurrency ?? 8, async (unit) => {
      if (options.signal?.aborted || session.lost()) return
      const o = await copyOne(unit, options, session, digest, writer).catch((err: unknown): CopyOutcome => {
        if (err instanceof CloudtaserError && err.code === 'PROTECT_LEASE_LOST') throw err
        return {...ref(unit), outcome: 'failed', reason: (err as Error).message.slice(0, 500)}
      })
      processed.push(o)
      options.onOutcome?.(o)
    })
    await writer.flush()
  } finally {
    digest.destroy()
    await writer.flush().catch(() => undefined)
    await session.close()
  }
  const counts: CopyResult['counts'] = {}
  for (const p of processed) counts[p.outcome] = (counts[p.outcome] ?? 0) + 1
  return {
    plan: loaded.file,
    dryRun: Boolean(options.dryRun),
    overwrite: Boolean(options.overwrite),
    processed,
    counts,
    planWrites: writer.writes,
    requests: {kubernetes: session.http.stats.requests, openbao: structuredClone(bao.stats)},
    ms: Math.round(performance.now() - t0),
  }
}

const ref = (u: SecretUnit) => ({namespace: u.namespace, name: u.name, vaultPath: u.vaultPath})

async function copyOne(unit: SecretUnit, options: CopyOptions, session: Session, digest: RunDigest, writer: PlanWriter): Promise<CopyOutcome> {
  const observed = await observeSource(session.http, unit.namespace, unit.name)
  const values = observed?.secret.values
  try {
    const pre = precheck(unit, observed?.observation)
    if (pre) return terminal(unit, pre)
    const source = observed!.observation
    const {kv, base64Fields} = toKv(values!)
    try {
      const at = {mount: unit.mount, path: unit.path}
      const compare = (): Promise<KvComparison> => compareWithKv(options.bao, digest, at, values!, base64Fields)
      // Never copied: write optimistically with check-and-set 0 (one request fewer); a refusal means something is there, so read and decide.
      let kvState: KvObservation = unit.record || options.dryRun ? await compare() : {state: 'unread'}
      const base = {...ref(unit), fields: source.fields, ...(base64Fields.length > 0 ? {base64Fields} : {})}
      for (let attempt = 0; attempt < 4; attempt++) {
        const action = planWrite(kvState, Boolean(options.overwrite))
        if (options.dryRun) return dryOutcome(unit, action, base)
        let version: number
        if (action.kind === 'record') version = action.version
        else if (action.kind === 'create' || action.kind === 'update') {
          session.assertHeld()
          const written = await writeKvValues(options.bao, unit.mount, unit.path, kv, action.cas)
          if (written === 'cas-mismatch') {
            kvState = await compare()
            continue
          }
          version = written.version
          // Proof: the version just written, read back, equals the Kubernetes values by digest.
          const back = await compareWithKv(options.bao, digest, {...at, version}, values!, base64Fields)
          if (back.state !== 'ok' || !back.equal) {
            return {...base, outcome: 'failed', kvVersion: version, reason: `KV version ${version} read back does not equal the Kubernetes values (${back.state === 'ok' ? back.differing!.join(', ') : back.state}); nothing recorded`}
          }
        } else return terminal(unit, action)
        const record = copyRecord(unit, source, version, options.actor, now())
        writer.updateTenant(unit.namespace, (t) => upsertRecord(t, record))
        const outcome = action.kind === 'create' ? 'copied' : action.kind === 'update' ? 'updated' : 'recorded'
        return {...base, outcome, kvVersion: version, ...(record.keep ? {keep: record.keep} : {})}
      }
      return {...base, outcome: 'failed', reason: 'OpenBao changed under every check-and-set attempt; run again'}
    } finally {
      kv.wipe()
    }
  } finally {
    values?.wipe()
  }
}

function terminal(unit: SecretUnit, a: CopyAction): CopyOutcome {
  switch (a.kind) {
    case 'already':
      return {...ref(unit), outcome: 'already', kvVersion: unit.record?.copy.kvVersion, reason: a.reason}
    case 'skip':
      return {...ref(unit), outcome: 'skipped', reason: a.reason}
    case 'drift':
      return {...ref(unit), outcome: 'drift', reason: a.reason}
    case 'conflict':
      return {...ref(unit), outcome: 'conflict', differing: a.differing, reason: `OpenBao already holds different values at ${unit.vaultPath}: ${a.differing.join(', ')}`}
    case 'fail':
      return {...ref(unit), outcome: 'failed', reason: a.reason}
    default:
      throw new Error(`not a terminal action: ${a.kind}`)
  }
}

function dryOutcome(unit: SecretUnit, a: CopyAction, base: Omit<CopyOutcome, 'outcome'>): CopyOutcome {
  if (a.kind === 'create') return {...base, outcome: 'would-create'}
  if (a.kind === 'update') return {...base, outcome: 'would-update', reason: `--overwrite replaces KV version ${a.cas}`}
  if (a.kind === 'record') return {...base, outcome: 'would-record', kvVersion: a.version, reason: 'OpenBao already holds these values'}
  return terminal(unit, a)
}
