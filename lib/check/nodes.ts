import type {KubeConfig} from '@kubernetes/client-node'
import {NODE_KERNEL_LABEL} from '../annotations.js'
import {kernelProtectionDefault, type KernelProtection} from '../discover/transform.js'
import {NODE_REPORT_ANNOTATION, type NodeReport} from '../ebpf/node-report.js'
import {eachListed, kubeHttp} from '../kube/http.js'
import type {KubeTarget} from '../kube/kubeconfig.js'

/** One node as `target check` shows it: its agent's own probe, and what the kubelet reports. */
export interface NodeCheck {
  name: string
  /** The agent's verdict; `no agent` where none has reported (not installed, or not running). */
  verdict: NodeReport['verdict'] | 'no agent'
  reason?: string
  kernel?: string
  containerRuntime?: string
  report?: NodeReport
}

export interface ClusterCheck {
  nodes: NodeCheck[]
  enforcing: number
  /** What discover would write as kernelProtection for this cluster, and why. */
  kernelProtection: {value: KernelProtection; why: string}
}

interface ListedNode {
  metadata: {name: string; labels?: Record<string, string>; annotations?: Record<string, string>}
  status?: {nodeInfo?: {kernelVersion?: string; containerRuntimeVersion?: string}}
}

export async function checkNodes(kc: KubeConfig | KubeTarget): Promise<ClusterCheck> {
  const http = await kubeHttp(kc)
  const nodes: NodeCheck[] = []
  await eachListed<ListedNode>(http, '/api/v1/nodes', (n) => nodes.push(nodeCheck(n)))
  nodes.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  return {
    nodes,
    enforcing: nodes.filter((n) => n.verdict === 'enforce').length,
    kernelProtection: kernelProtectionDefault(nodes.map((n) => (n.verdict === 'no agent' ? undefined : n.verdict))),
  }
}

function nodeCheck(n: ListedNode): NodeCheck {
  const label = n.metadata.labels?.[NODE_KERNEL_LABEL]
  let report: NodeReport | undefined
  try {
    report = n.metadata.annotations?.[NODE_REPORT_ANNOTATION] ? (JSON.parse(n.metadata.annotations[NODE_REPORT_ANNOTATION]) as NodeReport) : undefined
  } catch {
    report = undefined // a hand-edited annotation: the label still says what the agent found
  }
  const verdict = label === 'enforce' || label === 'detect' || label === 'degraded' ? label : 'no agent'
  return {
    name: n.metadata.name,
    verdict,
    ...(report?.reason ? {reason: report.reason} : verdict === 'no agent' ? {reason: 'no cloudtaser eBPF agent has reported on this node'} : {}),
    ...(n.status?.nodeInfo?.kernelVersion ? {kernel: n.status.nodeInfo.kernelVersion} : {}),
    ...(n.status?.nodeInfo?.containerRuntimeVersion ? {containerRuntime: n.status.nodeInfo.containerRuntimeVersion} : {}),
    ...(report ? {report} : {}),
  }
}
