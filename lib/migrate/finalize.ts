import {mapBounded} from '../bounded.js'
import {CloudtaserError} from '../errors.js'
import type {KubeHttp} from '../kube/http.js'
import {deleteSecret} from '../kube/secret-values.js'
import type {BaoClient} from '../openbao/bao-client.js'
import type {Workload} from '../plan/types.generated.js'
import {PlanWriter} from '../protect/plan-writer.js'
import {RunDigest} from './digest.js'
import {compareWithKv, listNamespace, observeSource} from './observe.js'
import {podsOf, secretUsers, type NamespaceObjects} from './references.js'
import {openSession, type CutoverStepOptions} from './session.js'
import {targetsOf, type Target} from './targets.js'
import {expectedVersion, planFinalize, type FinalizeAction, type WorkloadUse} from './transform.js'
import {now, upsertRecord} from './units.js'

export interface FinalizeOutcome {
  namespace: string
  name: string
  outcome: 'deleted' | 'kept' | 'already' | 'would-delete' | 'skipped' | 'failed'
  /** Why it was kept: who still uses it, what is not done yet (never a value). */
  reasons?: string[]
}

export interface FinalizeResult {
  plan: string
  dryRun: boolean
  processed: FinalizeOutcome[]
  counts: Partial<Record<FinalizeOutcome['outcome'], number>>
  planWrites: number
}

export type FinalizeOptions = CutoverStepOptions<FinalizeOutcome>

/**
 * The cutover's last step: deletes a Kubernetes Secret only when OpenBao holds its values (the
 * recorded KV version, compared by digest with the Secret as it is now), every plan workload that
 * read it is migrated with no reference left on it, their Pods run under the wrapper and are
 * Ready, and nothing else in the namespace references it. Otherwise it says who still uses it.
 * The delete carries the UID and resourceVersion that were checked (a Secret changed in between
 * is not deleted); the plan records each deletion.
 */
export async function finalize(options: FinalizeOptions): Promise<FinalizeResult> {
  const {loaded} = options
  const targets = targetsOf(loaded.plan, options.secrets)
  const session = await openSession(options, !options.dryRun)
  const writer = new PlanWriter(loaded)
  const digest = new RunDigest()
  const namespaces = new Map<string, Promise<NamespaceObjects>>()
  const objectsOf = (ns: string) => namespaces.get(ns) ?? namespaces.set(ns, listNamespace(session.http, ns)).get(ns)!
  const processed: FinalizeOutcome[] = []
  let quit = false
  const done = (o: FinalizeOutcome): void => {
    processed.push(o)
    options.onOutcome?.(o)
  }
  try {
    await mapBounded(targets, options.decide ? 1 : (options.concurrency ?? 8), async (t) => {
      if (quit || session.lost()) return
      const ref = {namespace: t.namespace, name: t.name}
      try {
        const action = await observeAndPlan(t, options.bao, session.http, digest, await objectsOf(t.namespace))
        if (action.kind === 'keep') return done({...ref, outcome: 'kept', reasons: action.reasons})
        if (action.kind === 'already') {
          if (!options.dryRun && t.record && t.record.state !== 'deleted') recordDeleted(writer, t, options.actor)
          return done({...ref, outcome: 'already', reasons: [action.reason]})
        }
        if (options.dryRun) return done({...ref, outcome: 'would-delete'})
        const decision = options.decide ? await options.decide(ref) : 'approve'
        if (decision !== 'approve') {
          quit = decision === 'quit'
          return done({...ref, outcome: 'skipped', reasons: [decision === 'quit' ? 'quit before this Secret' : 'skipped in interactive review']})
        }
        session.assertHeld()
        const r = await deleteSecret(session.http, t.namespace, t.name, {uid: action.uid, resourceVersion: action.resourceVersion})
        if (r === 'changed') return done({...ref, outcome: 'kept', reasons: ['the Secret changed while it was being checked: run finalize again']})
        recordDeleted(writer, t, options.actor, r === 'deleted' ? action.uid : undefined)
        done({...ref, outcome: r === 'deleted' ? 'deleted' : 'already'})
      } catch (err) {
        if (err instanceof CloudtaserError && err.code === 'PROTECT_LEASE_LOST') throw err
        done({...ref, outcome: 'failed', reasons: [(err as Error).message.slice(0, 500)]})
      }
    })
    await writer.flush()
  } finally {
    digest.destroy()
    await writer.flush().catch(() => undefined)
    await session.close()
  }
  const counts: FinalizeResult['counts'] = {}
  for (const p of processed) counts[p.outcome] = (counts[p.outcome] ?? 0) + 1
  return {plan: loaded.file, dryRun: Boolean(options.dryRun), processed, counts, planWrites: writer.writes}
}

function recordDeleted(writer: PlanWriter, t: Target, by: string, uid?: string): void {
  const record = t.record!
  writer.updateTenant(t.namespace, (tenant) => upsertRecord(tenant, {...record, state: 'deleted', deletion: {at: now(), by, ...(uid ? {uid} : {})}}))
}

async function observeAndPlan(t: Target, bao: BaoClient, http: KubeHttp, digest: RunDigest, objects: NamespaceObjects): Promise<FinalizeAction> {
  const observed = await observeSource(http, t.namespace, t.name)
  try {
    let kv: {state: 'ok' | 'missing' | 'deleted' | 'destroyed'; equal?: boolean; differing?: string[]} = {state: 'missing'}
    if (observed && t.record && t.mount && t.path) {
      kv = await compareWithKv(bao, digest, {mount: t.mount, path: t.path, version: expectedVersion(t.record)}, observed.secret.values, t.record.base64Fields ?? [])
    }
    const users = usersOf(objects).get(t.name) ?? []
    return planFinalize(t.record, {source: observed?.secret, kv: kv.state, equal: kv.equal, differing: kv.differing, workloads: t.workloads.map((w) => use(w, t.name, objects)), users})
  } finally {
    observed?.secret.values.wipe()
  }
}

const users = new WeakMap<NamespaceObjects, Map<string, string[]>>()
const usersOf = (o: NamespaceObjects): Map<string, string[]> => users.get(o) ?? users.set(o, secretUsers(o)).get(o)!

function use(w: Workload, secret: string, objects: NamespaceObjects): WorkloadUse {
  const remains = w.secrets.filter((s) => s.source.name === secret).flatMap((s) => s.references ?? []).find((r) => r.remains)?.remains
  // List items carry no kind: look in the list of the workload's kind.
  const live = (w.kind === 'Deployment' ? objects.deployments : w.kind === 'StatefulSet' ? objects.statefulSets : []).find((x) => x.metadata?.name === w.name)
  const ds = w.kind === 'DaemonSet' ? objects.daemonSets.find((x) => x.metadata?.name === w.name) : undefined
  const replicas = w.kind === 'CronJob' ? undefined : ds ? (ds.status?.desiredNumberScheduled ?? 0) : (live?.spec?.replicas ?? w.replicas)
  return {ref: `${w.kind}/${w.name}`, state: w.status.state, ...(remains ? {remains} : {}), replicas, pods: podsOf(objects, w.kind, w.name)}
}
