import type {KubeConfig} from '@kubernetes/client-node'
import type {LoadedPlan} from '../plan/io.js'
import type {Workload} from '../plan/types.generated.js'
import {acquireLease, holderIdentity} from './lease.js'
import {PlanWriter} from './plan-writer.js'
import {checkFingerprint, type Decision, type WorkloadRef} from './run.js'
import {computeUnprotect} from './transform.js'
import {statusCode, workloadApi} from './workload-api.js'

export interface UnprotectOutcome extends WorkloadRef {
  outcome: 'restored' | 'unchanged' | 'would-restore' | 'skipped' | 'failed'
  restored: number
  reason?: string
}

export interface UnprotectResult {
  plan: string
  dryRun: boolean
  processed: UnprotectOutcome[]
}

/**
 * Puts back what protect removed, from the references recorded in the plan, and marks the
 * workloads pending again. Workloads never migrated are left alone.
 */
export async function unprotect(options: {
  kc: KubeConfig
  loaded: LoadedPlan
  actor: string
  dryRun?: boolean
  /** Asked before each workload that would change (--interactive); without it every one is approved. */
  decide?: (w: WorkloadRef & {restored: number}) => Promise<Decision>
  onOutcome?: (o: UnprotectOutcome) => void
}): Promise<UnprotectResult> {
  const {kc, loaded} = options
  await checkFingerprint(kc, loaded.plan)
  const api = workloadApi(kc)
  const lease = options.dryRun ? undefined : await acquireLease(kc, {holder: holderIdentity(options.actor)})
  const writer = new PlanWriter(loaded)
  const processed: UnprotectOutcome[] = []
  const done = (o: UnprotectOutcome): void => {
    processed.push(o)
    options.onOutcome?.(o)
  }
  let quit = false
  try {
    for (const tenant of loaded.plan.tenants) {
      if (quit) break
      for (const w of tenant.workloads.filter((x: Workload) => x.status.state === 'migrated' || x.status.state === 'failed')) {
        if (quit) break
        const ref = {tenant: tenant.name, namespace: tenant.namespace, kind: w.kind, name: w.name}
        try {
          let restored = 0
          let declined = false
          for (let attempt = 0; ; attempt++) {
            const live = await api.get(w.kind, tenant.namespace, w.name)
            if (!live) throw new Error('not found in the cluster')
            const change = computeUnprotect(w, live)
            restored = change.restored
            if (change.action === 'unchanged' || options.dryRun) {
              done({...ref, outcome: options.dryRun && change.action !== 'unchanged' ? 'would-restore' : 'unchanged', restored})
              break
            }
            // Asked once per workload, before its first write; a conflict retry does not ask again.
            const decision = attempt === 0 && options.decide ? await options.decide({...ref, restored}) : 'approve'
            if (decision !== 'approve') {
              quit = decision === 'quit'
              declined = true
              if (!quit) done({...ref, outcome: 'skipped', restored: 0})
              break
            }
            try {
              await api.replace(w.kind, change.next)
              done({...ref, outcome: 'restored', restored})
              break
            } catch (err) {
              if (statusCode(err) !== 409 || attempt >= 4) throw err
            }
          }
          if (!options.dryRun && !declined) {
            writer.update(tenant.namespace, w.kind, w.name, (x) => {
              x.status = {state: 'pending', at: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'), by: options.actor, reason: `unprotected (${restored} reference(s) restored)`}
            })
          }
        } catch (err) {
          done({...ref, outcome: 'failed', restored: 0, reason: (err as Error).message})
        }
      }
    }
    await writer.flush()
    return {plan: loaded.file, dryRun: options.dryRun ?? false, processed}
  } finally {
    await writer.flush().catch(() => undefined)
    await lease?.release()
  }
}
