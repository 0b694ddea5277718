import type {Preview, ProtectEvent, WorkloadOutcome} from './run.js'

/** What a reviewer sees before approving one workload. */
export function renderPreview(p: Preview): string[] {
  const c = p.change
  const lines = [`${p.kind} ${p.namespace}/${p.name} (tenant ${p.tenant})`]
  if (c.action === 'skip') return [...lines, `  skipped: ${c.skipReason}`, ...c.kept.map((k) => `    ${k.type} ${k.secret} (${k.container}): ${k.why}`)]
  lines.push('  annotations added to the pod template:')
  for (const [k, v] of Object.entries(c.annotations)) lines.push(`    ${k}: ${v}`)
  lines.push(`  Secret references removed (${c.removed.length}):`)
  for (const r of c.removed) {
    const where = `${r.init ? 'init container' : 'container'} ${r.container}`
    lines.push(r.type === 'env' ? `    ${where}: env ${r.env} <- secret ${r.secret} key ${r.key}` : `    ${where}: envFrom secret ${r.secret}${r.prefix ? ` prefix ${r.prefix}` : ''}`)
  }
  if (c.kept.length > 0) {
    lines.push('  left in place:')
    for (const k of c.kept) lines.push(`    ${k.type} ${k.secret} (${k.init ? 'init container' : 'container'} ${k.container}): ${k.why}`)
  }
  lines.push(`  the wrapper delivers: ${c.delivered.join(', ') || '(nothing)'}`)
  return lines
}

const symbol: Record<WorkloadOutcome['outcome'], string> = {
  migrated: 'migrated',
  skipped: 'skipped',
  failed: 'FAILED',
  unchanged: 'migrated (already in place)',
  'would-protect': 'would protect',
  'would-record': 'would record as migrated (already in place)',
  'would-skip': 'would skip',
  'not-started': 'not started',
}

export function renderOutcome(o: WorkloadOutcome): string {
  return `${symbol[o.outcome]}: ${o.kind} ${o.namespace}/${o.name}${o.reason ? ` - ${o.reason}` : ''}`
}

/** Line-oriented progress, readable in CI logs and terminals alike. */
export function progressPrinter(log: (line: string) => void, showPreviews: boolean): (e: ProtectEvent) => void {
  let total = 0
  let done = 0
  return (e) => {
    switch (e.type) {
      case 'start':
        total = e.pending
        log(`${e.pending} workload(s) to process, ${e.alreadyDone} already migrated or skipped`)
        break
      case 'preview':
        if (showPreviews) for (const l of renderPreview(e.preview)) log(l)
        break
      case 'progress':
        log(`  ${e.workload.kind} ${e.workload.namespace}/${e.workload.name}: ${e.message}`)
        break
      case 'outcome':
        done++
        log(`[${done}/${total}] ${renderOutcome(e.outcome)}`)
        break
    }
  }
}
