import {existsSync, readFileSync} from 'node:fs'
import {gunzipSync} from 'node:zlib'
import type {KubeConfig} from '@kubernetes/client-node'
import {NODE_KERNEL_LABEL} from '../annotations.js'
import type {Capabilities} from './agent.js'

/** What a node can do for protected Pods, as its own agent found it. */
export type KernelVerdict = 'enforce' | 'detect' | 'degraded'

/** The agent's probe of its node, published on the Node object for `target check` and discover. */
export interface NodeReport {
  verdict: KernelVerdict
  /** Why the node does not enforce, in the agent's words. */
  reason?: string
  kernel?: string
  bpfLsmActive?: boolean
  btf?: boolean
  programsLoaded?: boolean
  /** memfd_secret(2) (CONFIG_SECRETMEM), where the wrapper keeps values out of the kernel's direct map. */
  memfdSecret: 'yes' | 'no' | 'unknown'
  cgroup: 'v1' | 'v2'
  swap: boolean
  reportedAt: string
}

/** Annotation holding the NodeReport as JSON; the verdict alone is the label (selectable). */
export const NODE_REPORT_ANNOTATION = 'cloudtaser.io/kernel-report'

export function verdictOf(caps: Capabilities): KernelVerdict {
  if (caps.degraded || !caps.programs_loaded) return 'degraded'
  return caps.mode === 'detect' ? 'detect' : 'enforce'
}

/** The report from the agent's capabilities and what the host's /proc and /sys say. */
export function nodeReport(caps: Capabilities, root = '/', now = new Date()): NodeReport {
  const verdict = verdictOf(caps)
  return {
    verdict,
    ...(verdict !== 'enforce' ? {reason: caps.reason ?? (verdict === 'detect' ? 'the agent runs in detect mode: accesses are logged, not denied' : 'the agent could not load its programs')} : {}),
    ...(caps.kernel ? {kernel: caps.kernel} : {}),
    ...(caps.bpf_lsm_active !== undefined ? {bpfLsmActive: caps.bpf_lsm_active} : {}),
    ...(caps.btf !== undefined ? {btf: caps.btf} : {}),
    ...(caps.programs_loaded !== undefined ? {programsLoaded: caps.programs_loaded} : {}),
    memfdSecret: secretmem(root),
    cgroup: existsSync(`${root}sys/fs/cgroup/cgroup.controllers`) ? 'v2' : 'v1',
    swap: readFileSync(`${root}proc/swaps`, 'utf8').trim().split('\n').length > 1,
    reportedAt: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
  }
}

/** CONFIG_SECRETMEM from the running kernel's config, where the kernel publishes it. */
function secretmem(root: string): NodeReport['memfdSecret'] {
  let config: string | undefined
  try {
    config = gunzipSync(readFileSync(`${root}proc/config.gz`)).toString('utf8')
  } catch {
    const release = readFileSync(`${root}proc/sys/kernel/osrelease`, 'utf8').trim()
    try {
      config = readFileSync(`${root}boot/config-${release}`, 'utf8')
    } catch {
      return 'unknown'
    }
  }
  return /^CONFIG_SECRETMEM=y$/m.test(config) ? 'yes' : 'no'
}

/** Merge patch putting the report on the node; `undefined` removes both (the agent is gone). */
export function nodeReportPatch(report: NodeReport | undefined): {metadata: {labels: Record<string, string | null>; annotations: Record<string, string | null>}} {
  return {
    metadata: {
      labels: {[NODE_KERNEL_LABEL]: report?.verdict ?? null},
      annotations: {[NODE_REPORT_ANNOTATION]: report ? JSON.stringify(report) : null},
    },
  }
}

/** Writes (or, with undefined, removes) the report on the node; needs `patch` on nodes. */
export async function publishNodeReport(kc: KubeConfig, nodeName: string, report: NodeReport | undefined): Promise<void> {
  const {KubernetesObjectApi, PatchStrategy} = await import('@kubernetes/client-node')
  await KubernetesObjectApi.makeApiClient(kc).patch(
    {apiVersion: 'v1', kind: 'Node', metadata: {name: nodeName, ...nodeReportPatch(report).metadata}} as never,
    undefined,
    undefined,
    'cloudtaser-ebpf',
    undefined,
    PatchStrategy.MergePatch,
  )
}
