// Judging an observation: what is wrong with each Pod, one line each, the cause before its
// consequences (a Pod that waits for an enforcing node has no container to complain about).
import {INJECT_LABEL, NODE_KERNEL_LABEL} from '../../../lib/annotations.js'
import type {PodDiagnosis} from '../../../lib/debug/report.js'
import type {Observation} from './observe.js'

/** Waiting reasons that are progress, not problems. */
const PROGRESS = new Set(['ContainerCreating', 'PodInitializing'])

export const NO_ENFORCING_NODE = 'NoEnforcingNode'

export const noEnforcingNodeMessage = `requires kernel enforcement (cloudtaser.io/ebpf: "true", ebpf-fail closed) and no node is labelled ${NODE_KERNEL_LABEL}=enforce, so it cannot be scheduled; see \`cloudtaser target check\`, or accept detection with cloudtaser.io/ebpf-fail: open (the plan's kernelProtection: preferred)`

/** Waits for a node that may never come: unscheduled, requiring enforcement, and no enforcing node exists. */
export const waitsForEnforcingNode = (p: Pick<PodDiagnosis, 'node' | 'kernel'>): boolean => !p.node && p.kernel.required && p.kernel.enforcingNodes === 0

export function findingsOf(o: Observation, what: string): string[] {
  const out: string[] = []
  if (o.template && !o.template.labelled) out.push(`${what}: its Pod template is not marked for injection (label ${INJECT_LABEL}=true): run target protect`)
  if (o.template && o.pods.length === 0) out.push(`${what}: no Pods`)
  for (const p of o.pods) out.push(...podFindings(p))
  return out
}

function podFindings(p: PodDiagnosis): string[] {
  const pod = `Pod ${p.name}`
  if (!p.injection.labelled) return [`${pod} is not marked for injection (label ${INJECT_LABEL}=true)`]
  if (!p.injection.wrapped) return [`${pod} is marked for injection but runs without the wrapper: it was created while the webhook did not answer (failurePolicy Ignore) or in an excluded namespace; delete it so its controller recreates it`]
  if (waitsForEnforcingNode(p)) return [`${pod} ${noEnforcingNodeMessage}`]
  const out: string[] = []
  if (p.kernel.required && p.kernel.nodeVerdict && p.kernel.nodeVerdict !== 'enforce') out.push(`${pod} requires kernel enforcement but runs on node ${p.kernel.node} whose agent says ${p.kernel.nodeVerdict}`)
  for (const c of p.containers) {
    const lastExit = c.lastExit ? `; last exit ${c.lastExit.code ?? '?'}${c.lastExit.message ? `: ${c.lastExit.message}` : ''}` : ''
    if (c.state === 'waiting' && c.reason && !PROGRESS.has(c.reason)) out.push(`${pod} container ${c.name}: ${c.reason}${c.message ? `: ${c.message}` : ''}${lastExit}`)
    else if (c.state === 'terminated' && c.reason !== 'Completed') out.push(`${pod} container ${c.name}: terminated (${c.reason ?? 'no reason'})${c.message ? `: ${c.message}` : ''}`)
    // Between two crashes a crash-looping container is running: its previous exit says why.
    else if (!p.ready && c.lastExit && c.lastExit.code !== 0) out.push(`${pod} container ${c.name}: ${c.state}, ${c.restarts} restart(s)${lastExit}`)
  }
  if (p.connectivity.reachable === false) out.push(`${pod}: OpenBao at ${p.connectivity.address} does not answer from the operator's network: ${p.connectivity.detail}`)
  // Warnings the lines above do not already say (BackOff repeats what the container state says).
  const said = out.join('\n')
  const warnings = new Map<string, string>()
  for (const e of p.events) if (e.type === 'Warning' && e.reason !== 'BackOff' && !said.includes(e.message)) warnings.set(e.reason, `${pod} event ${e.reason}${e.count > 1 ? ` (x${e.count})` : ''}: ${e.message}`)
  out.push(...warnings.values())
  if (out.length === 0 && !p.ready && p.phase !== 'Succeeded') out.push(`${pod} is not Ready (${p.phase ?? 'unknown phase'})`)
  return out
}
