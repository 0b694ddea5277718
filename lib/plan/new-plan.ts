import {createHash} from 'node:crypto'
import {CloudtaserError, ExitCode} from '../errors.js'
import {writeFileAtomic, type AtomicWriteHooks} from './atomic-write.js'
import type {LoadedPlan} from './io.js'
import type {PreparedWorkloads} from './prepared.js'
import {renderYaml, renderYamlBytes} from './render.js'
import type {MigrationPlan} from './types.generated.js'
import {validatePlan} from './validate.js'

// A plan's first write (discover -o). Apart from io.ts, whose `yaml` and `diff` libraries (~70 ms
// to load) serve reading with positions and saving with comments kept, neither needed here.

/**
 * Renders a plan that has no file yet (discover's first run). js-yaml's output (render.ts writes
 * the same bytes faster) is the text the `yaml` library writes for plans (2-space indent,
 * indented sequences, no folding); later saves go through `yaml`.
 */
export function renderPlan(plan: MigrationPlan): string {
  return renderYaml(plan)
}

/**
 * Writes a brand-new plan (no comments to keep). The object is validated; re-reading it would only
 * repeat that. With `prepared`, its workloads were validated and rendered already.
 */
export async function writeNewPlan(file: string, plan: MigrationPlan, hooks?: AtomicWriteHooks, prepared?: PreparedWorkloads): Promise<LoadedPlan> {
  let issues = validatePlan(prepared ? prepared.rest(plan) : plan)
  // Report against the whole plan: its pointers are the ones the file has.
  if (issues.length > 0 && prepared) issues = validatePlan(plan)
  if (issues.length > 0) {
    throw new CloudtaserError('PLAN_WOULD_BE_INVALID', `refusing to write ${file}: ${issues[0]!.pointer || '/'}: ${issues[0]!.message}`, {
      exitCode: ExitCode.INTERNAL,
      details: {issues},
    })
  }
  const bytes = renderYamlBytes(plan, prepared?.rendered)
  await writeFileAtomic(file, bytes, hooks)
  // The text only if asked for: discover, on 10,000 workloads, would hold a 9 MB string for nothing.
  let text: string | undefined
  return {
    file,
    plan,
    migratedFrom: plan.apiVersion,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    get source() {
      return (text ??= bytes.toString('utf8'))
    },
    cache: {},
  }
}
