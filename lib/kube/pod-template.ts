import type {V1Container, V1PodTemplateSpec} from '@kubernetes/client-node'
import type {WorkloadKind} from '../plan/types.generated.js'

/** The workload kinds protect patches, as they come from the API (only the parts we touch). */
export interface LiveWorkload {
  apiVersion?: string
  kind?: string
  metadata?: {name?: string; namespace?: string; resourceVersion?: string; generation?: number; annotations?: Record<string, string>}
  spec?: {template?: V1PodTemplateSpec; jobTemplate?: {spec?: {template?: V1PodTemplateSpec}}}
  status?: unknown
}

/** CronJobs keep their pod template one level deeper than the other kinds. */
export function podTemplateOf(kind: WorkloadKind, obj: LiveWorkload): V1PodTemplateSpec | undefined {
  return kind === 'CronJob' ? obj.spec?.jobTemplate?.spec?.template : obj.spec?.template
}

export interface ContainerSlot {
  container: V1Container
  init: boolean
}

export function containersOf(template: V1PodTemplateSpec): ContainerSlot[] {
  const spec = template.spec
  return [
    ...(spec?.initContainers ?? []).map((container) => ({container, init: true})),
    ...(spec?.containers ?? []).map((container) => ({container, init: false})),
  ]
}
