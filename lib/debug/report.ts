/**
 * The DebugReport custom resource (charts/cloudtaser/templates/debugreport-crd.yaml): a user (or
 * `target debug`) creates one naming a Pod or a workload; the operator's leader fills its status
 * with what it sees from inside the cluster. Types shared by the CLI and the operator.
 */
export const DEBUG_API_VERSION = 'cloudtaser.io/v1alpha1'
export const DEBUG_KIND = 'DebugReport'

export const debugReportsPath = (namespace?: string): string => `/apis/${DEBUG_API_VERSION}/${namespace ? `namespaces/${namespace}/` : ''}debugreports`

/** Workload kinds a report can name: those whose Pods a label selector finds. */
export const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job'] as const
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number]

export interface DebugReportSpec {
  /** A Pod's name, or */
  pod?: string
  /** a workload whose Pods are examined (at most MAX_PODS, newest first). */
  workload?: {kind: WorkloadKind; name: string}
  /** The operator deletes the report this long after completing it (default 3600). */
  ttlSecondsAfterFinished?: number
}

export interface ContainerDiagnosis {
  name: string
  /** Runs the wrapper as its command. */
  wrapped: boolean
  state: 'waiting' | 'running' | 'terminated' | 'unknown'
  reason?: string
  message?: string
  restarts: number
  /** The previous exit: the wrapper writes why it did not start the app as the termination message. */
  lastExit?: {code?: number; message?: string}
}

export interface EventSummary {
  type: string
  reason: string
  message: string
  count: number
  last?: string
}

export interface PodDiagnosis {
  name: string
  node?: string
  phase?: string
  ready: boolean
  injection: {labelled: boolean; wrapped: boolean; annotations: Record<string, string>}
  containers: ContainerDiagnosis[]
  /** The Pod's events, newest last (at most 20). */
  events: EventSummary[]
  /** The OpenBao address the wrapper dials, probed from the operator's network. */
  connectivity: {address?: string; reachable?: boolean; detail: string}
  kernel: {required: boolean; node?: string; nodeVerdict?: string; enforcingNodes: number}
}

export interface DebugReportStatus {
  phase: 'Complete' | 'Failed'
  completedAt: string
  /** The operator replica that wrote it. */
  reporter: string
  /** Why the report could not be made (phase Failed). */
  message?: string
  /** The workload's Pod template, when a workload was named. */
  template?: {labelled: boolean; annotations: Record<string, string>}
  pods: PodDiagnosis[]
  /** What is wrong, one line each, most useful first; empty when all is well. */
  findings: string[]
}

export interface DebugReport {
  apiVersion: typeof DEBUG_API_VERSION
  kind: typeof DEBUG_KIND
  metadata: {name?: string; generateName?: string; namespace: string; creationTimestamp?: string; resourceVersion?: string; uid?: string}
  spec: DebugReportSpec
  status?: DebugReportStatus
}

export const MAX_PODS = 10
