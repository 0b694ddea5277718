import {ask} from '../protect/prompt.js'
import type {Decision} from '../protect/run.js'
import type {CheckResult} from './check.js'
import type {CopyOutcome} from './copy.js'
import type {FinalizeOutcome} from './finalize.js'
import type {RollbackOutcome} from './rollback.js'

/** Lines for people; names, paths, versions and reasons only (an outcome never carries a value). */
const label: Record<CopyOutcome['outcome'], string> = {
  copied: 'copied',
  updated: 'overwritten',
  recorded: 'recorded',
  already: 'done before',
  conflict: 'CONFLICT',
  skipped: 'skipped',
  failed: 'FAILED',
  drift: 'DRIFT',
  'would-create': 'would copy',
  'would-update': 'would overwrite',
  'would-record': 'would record',
}

export function renderCopy(o: CopyOutcome): string {
  const what = `${o.namespace}/${o.name} -> ${o.vaultPath}`
  const bits = [
    o.kvVersion ? `version ${o.kvVersion}` : '',
    o.fields ? `fields ${o.fields.join(', ') || '(none)'}` : '',
    o.base64Fields ? `base64: ${o.base64Fields.join(', ')}` : '',
    o.outcome === 'conflict' ? `differing: ${(o.differing ?? []).join(', ')}` : (o.reason ?? ''),
    o.keep ? 'kept in Kubernetes by finalize (see the plan)' : '',
  ].filter(Boolean)
  return `${label[o.outcome].padEnd(15)} ${what}${bits.length ? ` (${bits.join('; ')})` : ''}`
}

export const renderFinalize = (o: FinalizeOutcome): string[] => [
  `${({deleted: 'deleted', kept: 'KEPT', already: 'already gone', 'would-delete': 'would delete', skipped: 'skipped', failed: 'FAILED'} as const)[o.outcome].padEnd(13)} ${o.namespace}/${o.name}`,
  ...(o.reasons ?? []).map((r) => `    ${r}`),
]

export const renderRollback = (o: RollbackOutcome): string =>
  `${({restored: 'restored', present: 'present', 'would-restore': 'would restore', skipped: 'skipped', failed: 'FAILED'} as const)[o.outcome].padEnd(13)} ${o.namespace}/${o.name}${o.kvVersion ? ` (from KV version ${o.kvVersion})` : ''}${o.reason ? ` - ${o.reason}` : ''}`

export function renderCheck(r: CheckResult): string[] {
  const w = Math.max(6, ...r.secrets.map((s) => `${s.namespace}/${s.name}`.length))
  return [
    `${'SECRET'.padEnd(w)}  ${'STATE'.padEnd(21)}  DETAIL`,
    ...r.secrets.map((s) => `${`${s.namespace}/${s.name}`.padEnd(w)}  ${(s.drift ? `DRIFT ${s.state}` : s.state).padEnd(21)}  ${s.detail ?? ''}`.trimEnd()),
  ]
}


export const askDelete = (s: {namespace: string; name: string}): Promise<Decision> => ask(`Delete Secret ${s.namespace}/${s.name}? (OpenBao holds its values)`, 'delete it', 'keep it for now')
export const askRestore = (s: {namespace: string; name: string}): Promise<Decision> => ask(`Recreate Secret ${s.namespace}/${s.name} from OpenBao?`, 'recreate it', 'leave it absent')
