import type {SecretMeta} from '../kube/secret-values.js'
import type {KvState} from '../openbao/kv-values.js'
import type {MigratedSecret, Workload} from '../plan/types.generated.js'
import {DIGEST_ALGORITHM} from './digest.js'
import {keepReason, recordableMetadata, type SecretUnit} from './units.js'

/**
 * Pure: from a unit of the plan and what was observed on both sides, what `target migrate`
 * (copy), `finalize`, `rollback` and `--check` do. The executors (copy.ts, finalize.ts,
 * rollback.ts, check.ts) observe, call these, and act; --dry-run renders the same decisions.
 * No value reaches these functions: equality arrives as a boolean and field names computed by
 * the executor with the run's digest.
 */

/** The Kubernetes side of one Secret: metadata and field names only. */
export interface SourceObservation {
  meta: SecretMeta
  fields: string[]
  binaryFields: string[]
}

/** The OpenBao side: `unread` when the executor writes optimistically (check-and-set 0) without reading first. */
export interface KvObservation {
  state: KvState | 'unread'
  version?: number
  /** For `ok`: whether OpenBao holds exactly the Kubernetes values, and if not, which fields differ (names). */
  equal?: boolean
  differing?: string[]
}

export type CopyAction =
  | {kind: 'create' | 'update'; cas: number}
  | {kind: 'record'; version: number}
  | {kind: 'already'; reason: string}
  | {kind: 'conflict'; differing: string[]}
  | {kind: 'skip'; reason: string}
  | {kind: 'fail'; reason: string}
  | {kind: 'drift'; reason: string}

/** Before OpenBao is asked: a decision that needs no KV state, or undefined. */
export function precheck(unit: SecretUnit, source: SourceObservation | undefined): CopyAction | undefined {
  const r = unit.record
  if (r?.state === 'deleted') {
    return source
      ? {kind: 'drift', reason: `re-created in Kubernetes after finalize deleted it${r.deletion ? ` (${r.deletion.at})` : ''}; see \`target migrate --check\``}
      : {kind: 'already', reason: 'finalized: OpenBao holds it, the Kubernetes Secret is deleted'}
  }
  if (!source) return unit.optional ? {kind: 'skip', reason: 'no such Secret, and every reference to it is optional'} : {kind: 'fail', reason: 'no such Secret in the cluster'}
  const missing = unit.requiredFields.filter((f) => !source.fields.includes(f))
  if (missing.length > 0) return {kind: 'fail', reason: `the Secret lacks field(s) the plan maps: ${missing.join(', ')}`}
  if (r && r.copy.sourceUid === source.meta.uid && r.copy.sourceResourceVersion === source.meta.resourceVersion) {
    return {kind: 'already', reason: `copied before (KV version ${r.copy.kvVersion}); the Secret has not changed since`}
  }
  return undefined
}

/**
 * Check-and-set decides every write: 0 creates only where nothing exists, N replaces only
 * version N. Equal values are recorded without a write; different ones are a conflict unless
 * the run was told to overwrite.
 */
export function planWrite(kv: KvObservation, overwrite: boolean): CopyAction {
  switch (kv.state) {
    case 'unread':
    case 'missing':
      return {kind: 'create', cas: 0}
    case 'deleted':
    case 'destroyed':
      return {kind: 'create', cas: kv.version ?? 0}
    case 'ok':
      if (kv.equal) return {kind: 'record', version: kv.version!}
      return overwrite ? {kind: 'update', cas: kv.version!} : {kind: 'conflict', differing: kv.differing ?? []}
  }
}

/** What the plan records once OpenBao's version was read back and proven equal. */
export function copyRecord(unit: SecretUnit, source: SourceObservation, kvVersion: number, by: string, at: string): MigratedSecret {
  const keep = keepReason(source.meta.type)
  const previous = unit.record
  return {
    name: unit.name,
    vaultPath: unit.vaultPath,
    state: 'copied',
    type: source.meta.type,
    ...(source.meta.immutable ? {immutable: true} : {}),
    ...recordableMetadata(source.meta),
    fields: [...source.fields].sort(),
    ...(source.binaryFields.length > 0 ? {base64Fields: [...source.binaryFields].sort()} : {}),
    ...(keep ? {keep} : {}),
    copy: {at, by, kvVersion, digest: DIGEST_ALGORITHM, sourceUid: source.meta.uid, sourceResourceVersion: source.meta.resourceVersion},
    ...(previous?.deletion ? {deletion: previous.deletion} : {}),
    ...(previous?.restore ? {restore: previous.restore} : {}),
  }
}

/** The KV version a Secret in this state should equal: the one restored from, else the one copied. */
export const expectedVersion = (r: MigratedSecret): number => (r.state === 'restored' && r.restore?.kvVersion ? r.restore.kvVersion : r.copy.kvVersion)

// ---------------------------------------------------------------------------------------------
// finalize

/** A plan workload that reads the Secret, as observed: its status in the plan and its Pods. */
export interface WorkloadUse {
  ref: string
  state: Workload['status']['state'] | 'vanished'
  /** The plan keeps at least one of its references to this Secret (`remains`), with why. */
  remains?: string
  /** Desired replicas (undefined for CronJobs: no Pods are expected between runs). */
  replicas?: number
  pods: Array<{name: string; wrapped: boolean; ready: boolean; done: boolean; base64Fields?: Record<string, string[]>}>
}

export interface FinalizeObserved {
  /** The live Secret; undefined when absent. */
  source?: SecretMeta
  /** State of the KV version the Secret should equal. */
  kv: KvState
  /** Whether the live Secret's values equal that KV version (names of the fields that differ otherwise). */
  equal?: boolean
  differing?: string[]
  workloads: WorkloadUse[]
  /** Everything in the namespace that references the Secret now (`Pod/x: env DB_PASSWORD in container app`). */
  users: string[]
}

export type FinalizeAction = {kind: 'delete'; uid: string; resourceVersion: string} | {kind: 'keep'; reasons: string[]} | {kind: 'already'; reason: string}

export function planFinalize(record: MigratedSecret | undefined, o: FinalizeObserved): FinalizeAction {
  if (!o.source) return {kind: 'already', reason: record?.state === 'deleted' ? 'deleted by an earlier finalize' : 'the Kubernetes Secret is already gone'}
  if (!record) return {kind: 'keep', reasons: ['not copied to OpenBao yet: run `target migrate` first']}
  const reasons: string[] = []
  if (record.keep) reasons.push(record.keep)
  const version = expectedVersion(record)
  if (o.kv !== 'ok') reasons.push(`OpenBao no longer holds KV version ${version} of ${record.vaultPath} (${o.kv}): the Secret is the only copy`)
  else if (o.equal === false) reasons.push(`the Secret changed since it was copied (${(o.differing ?? []).join(', ') || 'values differ'}): run \`target migrate\` (with --overwrite) first`)
  if (record.state === 'deleted') reasons.push('re-created after an earlier finalize: see `target migrate --check`')
  for (const w of o.workloads) {
    if (w.state !== 'migrated') reasons.push(`${w.ref} is ${w.state} in the plan: it still reads the Secret`)
    else if (w.remains) reasons.push(`${w.ref} keeps a reference to it: ${w.remains}`)
    else {
      const running = w.pods.filter((p) => !p.done)
      for (const p of running) {
        const undecoded = (record.base64Fields ?? []).filter((f) => !(p.base64Fields?.[record.vaultPath] ?? []).includes(f))
        if (!p.wrapped) reasons.push(`${w.ref}: Pod ${p.name} does not run under the wrapper`)
        else if (undecoded.length > 0) reasons.push(`${w.ref}: Pod ${p.name} would get binary field(s) ${undecoded.join(', ')} base64-encoded (protected before target migrate recorded them): run \`target protect\` again`)
        else if (!p.ready) reasons.push(`${w.ref}: Pod ${p.name} is not Ready`)
      }
      if ((w.replicas ?? 0) > 0 && running.length === 0) reasons.push(`${w.ref}: no Pods yet (wait for its rollout)`)
    }
  }
  for (const u of o.users) reasons.push(`still used by ${u}`)
  if (reasons.length > 0) return {kind: 'keep', reasons: [...new Set(reasons)]}
  return {kind: 'delete', uid: o.source.uid, resourceVersion: o.source.resourceVersion}
}

// ---------------------------------------------------------------------------------------------
// rollback

export type RollbackAction = {kind: 'recreate'} | {kind: 'present'; reason: string}

export function planRollback(record: MigratedSecret, source: SecretMeta | undefined): RollbackAction {
  if (source) return {kind: 'present', reason: record.state === 'deleted' ? 're-created outside cloudtaser; left as it is (see `target migrate --check`)' : 'the Secret exists'}
  return {kind: 'recreate'}
}

// ---------------------------------------------------------------------------------------------
// --check

/** Drift: a state where Kubernetes and OpenBao disagree about a value, or the only copy is gone. */
export const DRIFT = new Set(['recreated', 'changed-in-kubernetes', 'missing-in-openbao'] as const)

export type CheckState =
  | 'in-sync'
  | 'finalized'
  | 'not-copied'
  | 'rotated-in-openbao'
  | 'source-gone'
  | 'recreated'
  | 'changed-in-kubernetes'
  | 'missing-in-openbao'

export interface CheckObserved {
  source?: SecretMeta
  /** The current KV version and its state. */
  kv: {current?: number; state: KvState}
  /** Undefined when the Secret is unchanged since the copy (same UID and resourceVersion: no value was read). */
  equalsExpected?: boolean
  equalsCurrent?: boolean
  differing?: string[]
}

export function classify(record: MigratedSecret | undefined, o: CheckObserved): {state: CheckState; detail?: string} {
  if (!record) return {state: 'not-copied'}
  const version = expectedVersion(record)
  if (o.kv.state !== 'ok') return {state: 'missing-in-openbao', detail: `${record.vaultPath} has no readable current version (${o.kv.state}${o.kv.current ? ` at version ${o.kv.current}` : ''})`}
  if (record.state === 'deleted') return o.source ? {state: 'recreated', detail: `a Secret of this name exists again (uid ${o.source.uid})`} : {state: 'finalized'}
  if (!o.source) return {state: 'source-gone', detail: 'deleted outside finalize; OpenBao holds the values'}
  if (o.equalsExpected === false && o.equalsCurrent !== true) {
    return {state: 'changed-in-kubernetes', detail: `differs from KV version ${version}: ${(o.differing ?? []).join(', ')}`}
  }
  const rotated = o.kv.current !== undefined && o.kv.current > version
  if (rotated && o.equalsCurrent !== true) return {state: 'rotated-in-openbao', detail: `OpenBao is at version ${o.kv.current}; the Kubernetes Secret still holds version ${version}`}
  return {state: 'in-sync'}
}
