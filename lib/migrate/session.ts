import type {KubeConfig} from '@kubernetes/client-node'
import {kubeHttp, type KubeHttp} from '../kube/http.js'
import type {LoadedPlan} from '../plan/io.js'
import {acquireLease, holderIdentity, type HeldLease} from '../protect/lease.js'
import {checkFingerprint, type Decision} from '../protect/run.js'
import type {BaoClient} from '../openbao/bao-client.js'

/**
 * What every migrate run starts with: the plan matched to this cluster by fingerprint, a
 * Kubernetes client, and, for runs that change something, the cluster's cloudtaser lease (the
 * one protect holds), so two runs never write the same plan or Secrets at once. A run killed
 * with -9 leaves the lease behind; the next run on this host sees its pid gone and takes it.
 */
/** What `finalize` and `rollback` are given; O is what each reports per Secret. */
export interface CutoverStepOptions<O> {
  kc: KubeConfig
  loaded: LoadedPlan
  bao: BaoClient
  actor: string
  dryRun?: boolean
  /** NAMESPACE/NAME: only these Secrets. */
  secrets?: string[]
  /** Asked before each change (--interactive); absent means approve (--yes). */
  decide?: (t: {namespace: string; name: string}) => Promise<Decision>
  concurrency?: number
  onOutcome?: (o: O) => void
  http?: KubeHttp
}

export interface Session {
  http: KubeHttp
  /** True once the lease was lost: stop starting new work. */
  lost(): boolean
  /** Throws PROTECT_LEASE_LOST if the lease was lost: called before each write. */
  assertHeld(): void
  close(): Promise<void>
}

export async function openSession(o: {kc: KubeConfig; loaded: LoadedPlan; actor: string; http?: KubeHttp; concurrency?: number}, lease: boolean): Promise<Session> {
  await checkFingerprint(o.kc, o.loaded.plan)
  const http = o.http ?? (await kubeHttp(o.kc, {maxSockets: Math.max(4, o.concurrency ?? 8)}))
  let held: HeldLease | undefined
  let lostErr: Error | undefined
  if (lease) {
    held = await acquireLease(o.kc, {holder: holderIdentity(o.actor)})
    held.lost.catch((err: Error) => (lostErr = err))
  }
  return {
    http,
    lost: () => lostErr !== undefined,
    assertHeld: () => {
      if (lostErr) throw lostErr
    },
    close: async () => {
      await held?.release()
    },
  }
}
