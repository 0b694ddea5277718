import {createHash} from 'node:crypto'
import {CloudtaserError, ExitCode} from '../errors.js'
import {writeFileAtomic, type AtomicWriteHooks} from './atomic-write.js'
import type {LoadedPlan} from './io.js'
import type {PreparedWorkloads} from './prepared.js'
import {renderYaml, renderYamlBytes} from './render.js'
import type {MigrationPlan, Tenant} from './types.generated.js'
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
 * repeat that. With `prepared`, its workloads were validated and rendered already; with `parts`
 * (PlanBuilder's, see DiscoverReport.parts), some were even dropped, and stand-ins, whose text is
 * ready, take their places in the tenants' workload lists.
 */
export async function writeNewPlan(file: string, plan: MigrationPlan, hooks?: AtomicWriteHooks, prepared?: PreparedWorkloads, parts?: Map<Tenant, object[]>): Promise<LoadedPlan> {
  const rest = prepared ? prepared.rest(plan) : plan
  const issues = validatePlan(rest)
  if (issues.length > 0) {
    // Pointers into the plan as written, not into what was left to validate.
    if (rest !== plan) for (const issue of issues) issue.pointer = inPlace(issue.pointer, rest, plan, parts)
    throw new CloudtaserError('PLAN_WOULD_BE_INVALID', `refusing to write ${file}: ${issues[0]!.pointer || '/'}: ${issues[0]!.message}`, {
      exitCode: ExitCode.INTERNAL,
      details: {issues},
    })
  }
  const rendered = prepared && (parts ? {...prepared.rendered, sequences: new Map([...parts].map(([tenant, list]) => [tenant.workloads as unknown[], list]))} : prepared.rendered)
  const bytes = renderYamlBytes(plan, rendered)
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

/** `/tenants/T/workloads/I...` of `rest` as the same place in the written plan. */
function inPlace(pointer: string, rest: MigrationPlan, plan: MigrationPlan, parts: Map<Tenant, object[]> | undefined): string {
  const m = /^\/tenants\/(\d+)\/workloads\/(\d+)(.*)$/.exec(pointer)
  if (!m) return pointer
  const t = Number(m[1])
  const tenant = plan.tenants[t]!
  const index = (parts?.get(tenant) ?? tenant.workloads).indexOf(rest.tenants[t]!.workloads[Number(m[2])]!)
  return `/tenants/${t}/workloads/${index}${m[3]}`
}
