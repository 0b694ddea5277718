import {ItemRenderer, Unrenderable, type Prerendered} from './render.js'
import type {MigrationPlan, Workload} from './types.generated.js'
import {isValidWorkload} from './validate.js'
import {workloadYaml} from './workload-yaml.js'

/** Depth of a workload item in a plan's YAML: tenants (1), a tenant (2), its workloads (3), a workload (4). */
const WORKLOAD_LEVEL = 4

/**
 * Workloads of a new plan checked and rendered as soon as each is final, so that writeNewPlan
 * only checks and renders what is around them. Discover prepares each workload while it lists:
 * its worker would otherwise wait for the apiserver's next page with nothing to do, and then do
 * all of it after the last page. The workloads are PlanBuilder's (workload-yaml.ts writes their
 * keys in its order), and a prepared workload must not change afterwards.
 */
export class PreparedWorkloads {
  private readonly valid = new Set<object>()
  private readonly renderer = new ItemRenderer()
  readonly rendered: Prerendered = this.renderer.rendered

  /**
   * Checks and renders `workload`. With `standIn`, a valid workload whose text is ready is not
   * needed any more: the returned stand-in takes its place (PlanBuilder keeps that instead, and
   * writeNewPlan gets the stand-ins through `parts`).
   */
  add(workload: Workload, standIn = false): object | undefined {
    // An invalid one stays in what writeNewPlan validates, which reports it.
    if (!isValidWorkload(workload)) return undefined
    let text: string | undefined
    try {
      text = workloadYaml(workload, WORKLOAD_LEVEL, this.renderer.scalars)
    } catch (err) {
      if (!(err instanceof Unrenderable)) throw err
    }
    if (text === undefined) {
      // The general writer then; if it cannot either, writeNewPlan hands the whole plan to js-yaml.
      this.renderer.add(workload, WORKLOAD_LEVEL)
      this.valid.add(workload)
      return undefined
    }
    const key = standIn ? {} : workload
    this.renderer.addText(key, WORKLOAD_LEVEL, text)
    this.valid.add(key)
    return standIn ? key : undefined
  }

  /** The plan without the workloads found valid here: what is left to validate. */
  rest(plan: MigrationPlan): MigrationPlan {
    const left = (workloads: Workload[]): Workload[] => {
      // A plain loop, not filter(): a hole in the array must stay, for validation to see it.
      const out: Workload[] = []
      for (let i = 0; i < workloads.length; i++) if (!this.valid.has(workloads[i]!)) out.push(workloads[i]!)
      return out
    }
    return {...plan, tenants: plan.tenants.map((t) => ({...t, workloads: left(t.workloads)}))}
  }
}
