/**
 * What a command will do (or did), one line per object. Planned by pure functions from the
 * desired and the observed state; dry-run renders them, the executor applies create and update.
 */
export type ActionKind = 'create' | 'update' | 'unchanged' | 'conflict' | 'delete'

export type ResourceKind =
  | 'policy'
  | 'role'
  | 'auth-method'
  | 'auth-config'
  | 'namespace'
  | 'service-account'
  | 'cluster-role-binding'
  | 'bao-namespace'
  | 'kv-mount'
  | 'transit-mount'
  | 'transit-key'
  | 'ca'
  | 'record'

export interface Action {
  resource: ResourceKind
  name: string
  kind: ActionKind
  /** Why: for update, the fields that differ; for conflict, who owns the object. */
  reason?: string
  /** Field names that change (never values that could be secret). */
  changes?: string[]
  tenant?: string
}

export interface ActionSummary {
  create: number
  update: number
  unchanged: number
  conflict: number
  /** Only commands that delete (source deregister) report it, so older --json shapes stay as they were. */
  delete?: number
}

export function summarize(actions: readonly Action[]): ActionSummary {
  const s: ActionSummary = {create: 0, update: 0, unchanged: 0, conflict: 0}
  for (const a of actions) {
    if (a.kind === 'delete') s.delete = (s.delete ?? 0) + 1
    else s[a.kind]++
  }
  return s
}

export const summaryLine = (s: ActionSummary, dryRun: boolean): string =>
  `${dryRun ? 'Would create' : 'Created'} ${s.create}, ${dryRun ? 'would update' : 'updated'} ${s.update}, ${s.delete === undefined ? '' : `${dryRun ? 'would delete' : 'deleted'} ${s.delete}, `}unchanged ${s.unchanged}, conflicts ${s.conflict}`

/** One line per action, aligned, for people. */
export function renderActions(actions: readonly Action[], dryRun: boolean): string[] {
  const verb: Record<ActionKind, string> = dryRun
    ? {create: 'would create', update: 'would update', unchanged: 'unchanged', conflict: 'CONFLICT', delete: 'would delete'}
    : {create: 'created', update: 'updated', unchanged: 'unchanged', conflict: 'CONFLICT', delete: 'deleted'}
  const w = Math.max(0, ...actions.map((a) => `${a.resource} ${a.name}`.length))
  return actions.map((a) => {
    const why = a.reason ? `  (${a.reason})` : ''
    return `${verb[a.kind].padEnd(12)} ${`${a.resource} ${a.name}`.padEnd(w)}${why}`.trimEnd()
  })
}
