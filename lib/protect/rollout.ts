import {AppsV1Api, CoreV1Api, type KubeConfig, type V1Pod, type V1ReplicaSet} from '@kubernetes/client-node'
import type {WorkloadKind} from '../plan/types.generated.js'
import {Annotations} from '../annotations.js'
import type {LiveWorkload} from '../kube/pod-template.js'

export interface RolloutState {
  done: boolean
  /** The rollout cannot finish without someone acting: waiting longer would only hide why. */
  failed?: boolean
  message: string
}

const TEMPLATE_GENERATION = 'deployment.kubernetes.io/revision'
/** Waiting reasons that no amount of waiting fixes (the kubelet backs off and retries forever). */
const STUCK = new Set(['CrashLoopBackOff', 'ImagePullBackOff', 'ErrImagePull', 'CreateContainerConfigError', 'CreateContainerError', 'InvalidImageName', 'RunContainerError'])

/**
 * Done means what `kubectl rollout status` means: every replica runs the new template and is
 * available, and no old replica is left. A rollout that cannot finish fails at once with the
 * reason the cluster gives: the controller could not create Pods (ReplicaFailure: e.g. the
 * webhook denied them), the progress deadline passed, or a new Pod is stuck (its container
 * crash-loops, e.g. the wrapper cannot reach OpenBao, or its image cannot be pulled). A CronJob
 * needs nothing until its next run.
 */
export async function rolloutState(kc: KubeConfig, kind: WorkloadKind, obj: LiveWorkload): Promise<RolloutState> {
  const apps = kc.makeApiClient(AppsV1Api)
  const ns = obj.metadata!.namespace!
  const name = obj.metadata!.name!
  const generation = obj.metadata?.generation ?? 0
  const observing = {done: false, message: 'waiting for the controller to observe the change'}
  switch (kind) {
    case 'CronJob':
      return {done: true, message: 'the next scheduled Job uses the new template'}
    case 'Deployment': {
      const d = await apps.readNamespacedDeployment({name, namespace: ns})
      if ((d.status?.observedGeneration ?? 0) < generation) return observing
      const sets = await apps.listNamespacedReplicaSet({namespace: ns})
      const owned = sets.items.filter((rs: V1ReplicaSet) => rs.metadata?.ownerReferences?.some((o) => o.uid === d.metadata?.uid))
      const fresh = owned.find((rs) => rs.spec?.template?.metadata?.annotations?.[Annotations.inject] === 'true')
      if (!fresh) return {done: false, message: 'waiting for the new ReplicaSet'}
      const failure = [...(fresh.status?.conditions ?? []), ...(d.status?.conditions ?? [])].find(
        (c) => (c.type === 'ReplicaFailure' && c.status === 'True') || (c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded'),
      )
      if (failure) return {done: false, failed: true, message: `${failure.reason}: ${failure.message}`}
      const stuck = await stuckPod(kc, ns, fresh.metadata!.uid!)
      if (stuck) return {done: false, failed: true, message: stuck}
      const want = d.spec?.replicas ?? 1
      const s = d.status ?? {}
      const label = `ReplicaSet ${fresh.metadata?.name} (revision ${fresh.metadata?.annotations?.[TEMPLATE_GENERATION] ?? '?'})`
      if ((s.updatedReplicas ?? 0) < want) return {done: false, message: `${label}: ${s.updatedReplicas ?? 0}/${want} updated replicas`}
      if ((s.replicas ?? 0) > (s.updatedReplicas ?? 0)) return {done: false, message: `${label}: ${(s.replicas ?? 0) - (s.updatedReplicas ?? 0)} old replica(s) pending termination`}
      if ((s.availableReplicas ?? 0) < want) return {done: false, message: `${label}: ${s.availableReplicas ?? 0}/${want} updated replicas available`}
      return {done: true, message: `${label}: ${want}/${want} replicas updated and available`}
    }
    case 'StatefulSet': {
      const s = await apps.readNamespacedStatefulSet({name, namespace: ns})
      const st = s.status
      if ((st?.observedGeneration ?? 0) < generation || !st?.updateRevision) return observing
      const stuck = await stuckPod(kc, ns, s.metadata!.uid!, (p) => p.metadata?.labels?.['controller-revision-hash'] === st.updateRevision)
      if (stuck) return {done: false, failed: true, message: stuck}
      const want = s.spec?.replicas ?? 1
      const label = `update revision ${st.updateRevision}`
      if (s.spec?.updateStrategy?.type === 'OnDelete') return {done: true, message: `${label}: OnDelete strategy, Pods take the new template when deleted`}
      if ((st.updatedReplicas ?? 0) < want) return {done: false, message: `${label}: ${st.updatedReplicas ?? 0}/${want} updated replicas`}
      if ((st.readyReplicas ?? 0) < want || st.currentRevision !== st.updateRevision) return {done: false, message: `${label}: ${st.readyReplicas ?? 0}/${want} replicas ready`}
      return {done: true, message: `${label}: ${want}/${want} replicas updated and ready`}
    }
    case 'DaemonSet': {
      const ds = await apps.readNamespacedDaemonSet({name, namespace: ns})
      const st = ds.status
      if ((st?.observedGeneration ?? 0) < generation) return observing
      const stuck = await stuckPod(kc, ns, ds.metadata!.uid!, (p) => p.metadata?.labels?.['pod-template-generation'] === String(generation))
      if (stuck) return {done: false, failed: true, message: stuck}
      const want = st?.desiredNumberScheduled ?? 0
      if ((st?.updatedNumberScheduled ?? 0) < want) return {done: false, message: `${st?.updatedNumberScheduled ?? 0}/${want} nodes updated`}
      if ((st?.numberAvailable ?? 0) < want) return {done: false, message: `${st?.numberAvailable ?? 0}/${want} nodes available`}
      return {done: true, message: `${want}/${want} nodes updated and available`}
    }
  }
}

/** The first Pod owned by `owner` (and matching `select`) with a container stuck for good, described. */
async function stuckPod(kc: KubeConfig, namespace: string, owner: string, select: (p: V1Pod) => boolean = () => true): Promise<string | undefined> {
  const pods = await kc.makeApiClient(CoreV1Api).listNamespacedPod({namespace})
  for (const p of pods.items) {
    if (!p.metadata?.ownerReferences?.some((o) => o.uid === owner) || !select(p)) continue
    for (const c of [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]) {
      const waiting = c.state?.waiting
      if (!waiting?.reason || !STUCK.has(waiting.reason)) continue
      const last = c.lastState?.terminated
      const exit = last ? `; last exit ${last.exitCode}${last.message ? `: ${last.message.trim().slice(-300)}` : ''}` : ''
      return `Pod ${p.metadata.name} container ${c.name}: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}${exit}`
    }
  }
  return undefined
}

export async function waitForRollout(
  kc: KubeConfig,
  kind: WorkloadKind,
  obj: LiveWorkload,
  deadline: number,
  onProgress: (message: string) => void,
): Promise<RolloutState> {
  let last = ''
  for (;;) {
    const state = await rolloutState(kc, kind, obj)
    if (state.message !== last) onProgress((last = state.message))
    if (state.done || state.failed) return state
    if (Date.now() > deadline) return {done: false, message: `timed out: ${state.message}`}
    await new Promise((r) => setTimeout(r, 500))
  }
}
