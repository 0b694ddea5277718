import {savePlan, type LoadedPlan} from '../plan/io.js'
import type {MigrationPlan, Tenant, Workload} from '../plan/types.generated.js'

/**
 * Serialises plan updates from concurrent workers and coalesces them: a burst of status changes
 * becomes one atomic write. Losing a not-yet-written status to a crash is harmless: the cluster
 * is the source of truth for "already protected", and a re-run records it without patching.
 */
export class PlanWriter {
  private loaded: LoadedPlan
  private plan: MigrationPlan
  private dirty = false
  private writing: Promise<void> = Promise.resolve()
  private timer: NodeJS.Timeout | undefined
  private lastWriteMs = 0
  writes = 0

  constructor(loaded: LoadedPlan, private readonly minDelayMs = 200) {
    this.loaded = loaded
    this.plan = structuredClone(loaded.plan)
  }

  get current(): MigrationPlan {
    return this.plan
  }

  update(namespace: string, kind: string, name: string, change: (w: Workload) => void): void {
    const tenant = this.plan.tenants.find((t) => t.namespace === namespace)
    const workload = tenant?.workloads.find((w) => w.kind === kind && w.name === name)
    if (!workload) throw new Error(`workload ${namespace}/${kind}/${name} is not in the plan`)
    change(workload)
    this.changed()
  }

  /** The same for a tenant (target migrate records its Secrets there). */
  updateTenant(namespace: string, change: (t: Tenant) => void): void {
    const tenant = this.plan.tenants.find((t) => t.namespace === namespace)
    if (!tenant) throw new Error(`tenant of namespace ${namespace} is not in the plan`)
    change(tenant)
    this.changed()
  }

  private changed(): void {
    this.dirty = true
    this.timer ??= setTimeout(() => {
      this.timer = undefined
      void this.flush().catch(() => undefined)
      // A save of a large plan blocks the event loop; spacing saves by a multiple of their cost
      // keeps them under a third of the run's time whatever the plan's size.
    }, Math.max(this.minDelayMs, 2 * this.lastWriteMs))
  }

  /** Writes now if anything changed; resolves when the file on disk holds every update so far. */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    this.writing = this.writing.then(async () => {
      if (!this.dirty) return
      this.dirty = false
      const started = performance.now()
      this.loaded = await savePlan(this.loaded, structuredClone(this.plan))
      this.lastWriteMs = performance.now() - started
      this.writes++
    })
    return this.writing
  }
}
