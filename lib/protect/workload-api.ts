import {AppsV1Api, BatchV1Api, type KubeConfig} from '@kubernetes/client-node'
import type {WorkloadKind} from '../plan/types.generated.js'
import {statusCode} from '../kube/errors.js'
import type {LiveWorkload} from '../kube/pod-template.js'

/** Read and replace the four kinds protect patches; replace carries resourceVersion (optimistic lock). */
export interface WorkloadApi {
  get(kind: WorkloadKind, namespace: string, name: string): Promise<LiveWorkload | undefined>
  replace(kind: WorkloadKind, obj: LiveWorkload): Promise<LiveWorkload>
}

// Re-exported: the status of a failed call is read in lib/kube, the one place that maps Kubernetes errors.
export {statusCode}

export function workloadApi(kc: KubeConfig): WorkloadApi {
  const apps = kc.makeApiClient(AppsV1Api)
  const batch = kc.makeApiClient(BatchV1Api)
  return {
    async get(kind, namespace, name) {
      try {
        switch (kind) {
          case 'Deployment':
            return (await apps.readNamespacedDeployment({name, namespace})) as LiveWorkload
          case 'StatefulSet':
            return (await apps.readNamespacedStatefulSet({name, namespace})) as LiveWorkload
          case 'DaemonSet':
            return (await apps.readNamespacedDaemonSet({name, namespace})) as LiveWorkload
          case 'CronJob':
            return (await batch.readNamespacedCronJob({name, namespace})) as LiveWorkload
        }
      } catch (err) {
        if (statusCode(err) === 404) return undefined
        throw err
      }
    },
    async replace(kind, obj) {
      const name = obj.metadata!.name!
      const namespace = obj.metadata!.namespace!
      const body = obj as never
      switch (kind) {
        case 'Deployment':
          return (await apps.replaceNamespacedDeployment({name, namespace, body})) as LiveWorkload
        case 'StatefulSet':
          return (await apps.replaceNamespacedStatefulSet({name, namespace, body})) as LiveWorkload
        case 'DaemonSet':
          return (await apps.replaceNamespacedDaemonSet({name, namespace, body})) as LiveWorkload
        case 'CronJob':
          return (await batch.replaceNamespacedCronJob({name, namespace, body})) as LiveWorkload
      }
    },
  }
}
