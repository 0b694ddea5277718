import {setTimeout as sleep} from 'node:timers/promises'
import {CloudtaserError, ExitCode} from '../errors.js'
import {kubeHttp} from '../kube/http.js'
import type {KubeTarget} from '../kube/kubeconfig.js'
import {DEBUG_API_VERSION, DEBUG_KIND, debugReportsPath, WORKLOAD_KINDS, type DebugReport, type DebugReportSpec, type WorkloadKind} from './report.js'

/** kubectl's resource names and short names for the kinds a report can name. */
const KIND_NAMES: Record<string, WorkloadKind | 'Pod'> = {
  pod: 'Pod', pods: 'Pod', po: 'Pod',
  deployment: 'Deployment', deployments: 'Deployment', deploy: 'Deployment',
  statefulset: 'StatefulSet', statefulsets: 'StatefulSet', sts: 'StatefulSet',
  daemonset: 'DaemonSet', daemonsets: 'DaemonSet', ds: 'DaemonSet',
  replicaset: 'ReplicaSet', replicasets: 'ReplicaSet', rs: 'ReplicaSet',
  job: 'Job', jobs: 'Job',
}

/** `NAME` (a Pod) or `KIND/NAME` as kubectl takes them. */
export function parseTarget(arg: string): Pick<DebugReportSpec, 'pod' | 'workload'> {
  const [kindName, name, extra] = arg.split('/')
  if (extra !== undefined || (name !== undefined && !name)) throw usage(arg)
  if (name === undefined) return {pod: kindName!}
  const kind = KIND_NAMES[kindName!.toLowerCase().replace(/\.(apps|batch)$/, '')]
  if (!kind) throw usage(arg)
  return kind === 'Pod' ? {pod: name} : {workload: {kind, name}}
}

const usage = (arg: string) =>
  new CloudtaserError('USAGE', `cannot read "${arg}" as POD or KIND/NAME`, {hint: `KIND is pod or one of ${WORKLOAD_KINDS.join(', ')} (kubectl's names and short names work: deploy, sts, ds, rs).`})

export interface DebugRequest {
  namespace: string
  spec: DebugReportSpec
  /** How long to wait for the operator's answer. */
  timeoutMs: number
  /** Called once when the report exists and the wait begins. */
  onCreated?: (name: string) => void
}

/** Creates a DebugReport and waits until the operator's leader has filled its status. */
export async function requestDebugReport(target: KubeTarget, r: DebugRequest): Promise<DebugReport> {
  const http = await kubeHttp(target)
  const base = debugReportsPath(r.namespace)
  const stem = (r.spec.pod ?? r.spec.workload!.name).toLowerCase().slice(0, 40).replace(/[^a-z0-9-]/g, '-').replace(/-+$/, '')
  const body: DebugReport = {apiVersion: DEBUG_API_VERSION, kind: DEBUG_KIND, metadata: {generateName: `${stem}-`, namespace: r.namespace}, spec: r.spec}
  const created = await http.send('POST', base, {body: Buffer.from(JSON.stringify(body))})
  const text = created.bytes.toString('utf8')
  if (created.status === 404) {
    throw new CloudtaserError('DEBUG_REPORT_UNSUPPORTED', `the cluster has no DebugReport resource (${DEBUG_API_VERSION})`, {
      exitCode: ExitCode.CONFIG,
      hint: 'Install or upgrade cloudtaser with `cloudtaser target install` (the chart\'s operator.diagnostics.enabled, default true, installs it).',
    })
  }
  if (created.status === 403) throw new CloudtaserError('KUBE_FORBIDDEN', `creating a DebugReport in ${r.namespace}: ${messageOf(text)}`, {hint: 'Creating debugreports.cloudtaser.io needs RBAC create in that namespace.'})
  if (created.status >= 400) throw new CloudtaserError('KUBE_API_ERROR', `creating a DebugReport in ${r.namespace}: HTTP ${created.status}: ${messageOf(text)}`)
  const name = (JSON.parse(text) as DebugReport).metadata.name!
  r.onCreated?.(name)
  for (const end = Date.now() + r.timeoutMs; Date.now() < end; await sleep(250)) {
    const report = await http.get<DebugReport>(`${base}/${name}`)
    if (report.status?.completedAt) return report
  }
  throw new CloudtaserError('DEBUG_REPORT_TIMEOUT', `no operator answered DebugReport ${r.namespace}/${name} within ${Math.round(r.timeoutMs / 1000)} s`, {
    exitCode: ExitCode.UNAVAILABLE,
    hint: 'Diagnostics run on the operator\'s leader with --diagnostics (chart value operator.diagnostics.enabled): see `cloudtaser target status` for the operator and its leader. The report stays; its status appears when the leader gets to it.',
  })
}

const messageOf = (text: string): string => {
  try {
    return (JSON.parse(text) as {message?: string}).message ?? text.slice(0, 300)
  } catch {
    return text.slice(0, 300)
  }
}
