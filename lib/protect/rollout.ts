import {AppsV1Api, type KubeConfig, type V1ReplicaSet} from '@kubernetes/client-node'
import type {WorkloadKind} from '../plan/types.generated.js'
import {Annotations} from '../annotations.js'
import type {LiveWorkload} from '../kube/pod-template.js'

export interface RolloutState {
  done: boolean
  message: string
}

const TEMPLATE_GENERATION = 'deployment.kubernetes.io/revision'

/**
 * "Rolled" means the workload's controller has acted on the new template. Without a kubelet (the
 * test environment) pods never become ready, so readiness is reported but not waited for:
 * a Deployment has a ReplicaSet carrying the cloudtaser annotations, a StatefulSet has a new
 * update revision, a DaemonSet has observed the new generation, a CronJob needs nothing until
 * its next run.
 */
export async function rolloutState(kc: KubeConfig, kind: WorkloadKind, obj: LiveWorkload): Promise<RolloutState> {
  const apps = kc.makeApiClient(AppsV1Api)
  const ns = obj.metadata!.namespace!
  const name = obj.metadata!.name!
  const generation = obj.metadata?.generation ?? 0
  switch (kind) {
    case 'CronJob':
      return {done: true, message: 'the next scheduled Job uses the new template'}
    case 'Deployment': {
      const d = await apps.readNamespacedDeployment({name, namespace: ns})
      if ((d.status?.observedGeneration ?? 0) < generation) return {done: false, message: 'waiting for the controller to observe the change'}
      const uid = d.metadata?.uid
      const sets = await apps.listNamespacedReplicaSet({namespace: ns})
      const owned = sets.items.filter((rs: V1ReplicaSet) => rs.metadata?.ownerReferences?.some((o) => o.uid === uid))
      const fresh = owned.find((rs) => rs.spec?.template?.metadata?.annotations?.[Annotations.inject] === 'true')
      if (!fresh) return {done: false, message: 'waiting for the new ReplicaSet'}
      const ready = d.status?.updatedReplicas ?? 0
      return {done: true, message: `ReplicaSet ${fresh.metadata?.name} (revision ${fresh.metadata?.annotations?.[TEMPLATE_GENERATION] ?? '?'}), ${ready}/${d.spec?.replicas ?? 0} updated replicas`}
    }
    case 'StatefulSet': {
      const s = await apps.readNamespacedStatefulSet({name, namespace: ns})
      if ((s.status?.observedGeneration ?? 0) < generation || !s.status?.updateRevision) return {done: false, message: 'waiting for the controller to observe the change'}
      return {done: true, message: `update revision ${s.status.updateRevision}, ${s.status.updatedReplicas ?? 0}/${s.spec?.replicas ?? 0} updated replicas`}
    }
    case 'DaemonSet': {
      const ds = await apps.readNamespacedDaemonSet({name, namespace: ns})
      if ((ds.status?.observedGeneration ?? 0) < generation) return {done: false, message: 'waiting for the controller to observe the change'}
      return {done: true, message: `${ds.status?.updatedNumberScheduled ?? 0}/${ds.status?.desiredNumberScheduled ?? 0} nodes updated`}
    }
  }
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
    if (state.done) return state
    if (Date.now() > deadline) return {done: false, message: `timed out: ${state.message}`}
    await new Promise((r) => setTimeout(r, 250))
  }
}
