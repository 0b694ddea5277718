import {createHash} from 'node:crypto'
import {CloudtaserError, ExitCode} from '../errors.js'
import {writeFileAtomic, type AtomicWriteHooks} from './atomic-write.js'
import type {LoadedPlan} from './io.js'
import {renderYaml, renderYamlBytes} from './render.js'
import type {MigrationPlan} from './types.generated.js'
import {validatePlan} from './validate.js'

// A plan's first write (discover -o). Apart from io.ts, whose `yaml` and `diff` libraries (~70 ms
// to load) serve reading with positions and saving with comments kept, neither needed here.

/**
 * Renders a plan that has no file yet (discover's first run): js-yaml's text (render.ts writes
 * the same bytes faster), which is what the `yaml` library writes for plans (2-space indent,
 * indented sequences, no folding); later saves go through `yaml`. Nothing is dropped: render.ts
 * writes every key of every object, and the plan was validated first, so a key the schema does
 * not know is refused (PLAN_WOULD_BE_INVALID), never written or skipped.
 */
export function renderPlan(plan: MigrationPlan): string {
  return renderYaml(plan)
}

/** Writes a brand-new plan (no comments to keep), validated first; re-reading it would only repeat that. */
export async function writeNewPlan(file: string, plan: MigrationPlan, hooks?: AtomicWriteHooks): Promise<LoadedPlan> {
  const issues = validatePlan(plan)
  if (issues.length > 0) {
    throw new CloudtaserError('PLAN_WOULD_BE_INVALID', `refusing to write ${file}: ${issues[0]!.pointer || '/'}: ${issues[0]!.message}`, {
      exitCode: ExitCode.INTERNAL,
      details: {issues},
    })
  }
  const bytes = renderYamlBytes(plan)
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
