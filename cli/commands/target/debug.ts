import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {kubeFlags, kubeTargetFromFlags} from '../../flags/kube.js'
import {parseTarget, requestDebugReport} from '../../../lib/debug/request.js'
import type {DebugReport, PodDiagnosis} from '../../../lib/debug/report.js'
import {parseDuration} from '../../../lib/duration.js'
import {ExitCode} from '../../../lib/errors.js'

export default class TargetDebug extends BaseCommand<typeof TargetDebug> {
  static override summary = 'Why a protected Pod or workload does not run: the operator\'s diagnosis of injection, the wrapper, OpenBao connectivity and kernel protection.'
  static override description = `Creates a DebugReport (debugreports.cloudtaser.io) for one Pod or workload and prints what the operator's leader writes into its status: whether each Pod is marked for injection and really runs under the wrapper, each container's state and the wrapper's last termination message, the Pod's events, whether the OpenBao address the wrapper dials answers from the operator's network (the certificate is not verified there), and the kernel protection the Pod requires against what its node's agent reports (NoEnforcingNode when no node enforces). Nothing is read from OpenBao and no value is shown. Exit 1 when anything is wrong; the report stays in the cluster for an hour (kubectl get debugreports).`
  static override examples = [
    '<%= config.bin %> target debug deployment/redis -n redis-demo',
    '<%= config.bin %> target debug redis-7c9f8-x2v4q -n redis-demo --json',
  ]
  static override args = {target: Args.string({description: 'POD or KIND/NAME (deployment, statefulset, daemonset, replicaset, job; kubectl\'s short names work).', required: true})}
  static override flags = {
    ...kubeFlags,
    namespace: Flags.string({char: 'n', description: 'The namespace of the Pod or workload (default: the context\'s, then default).'}),
    timeout: Flags.string({description: 'How long to wait for the operator\'s answer.', default: '30s'}),
  }

  async run(): Promise<DebugReport> {
    const target = kubeTargetFromFlags(this.flags)
    const namespace = this.flags.namespace ?? target.namespace ?? 'default'
    const spec = parseTarget(this.args.target)
    const report = await requestDebugReport(target, {
      namespace,
      spec,
      timeoutMs: parseDuration(this.flags.timeout),
      onCreated: (name) => this.logToStderr(`DebugReport ${namespace}/${name} created; waiting for the operator`),
    })
    const s = report.status!
    this.log(`DebugReport ${namespace}/${report.metadata.name}, by ${s.reporter} at ${s.completedAt}`)
    if (s.template) this.log(`template   ${s.template.labelled ? 'marked for injection' : 'NOT marked for injection'}${annotationsLine(s.template.annotations)}`)
    for (const p of s.pods) this.log(podLines(p).join('\n'))
    if (s.findings.length === 0) this.log('All well.')
    for (const f of s.findings) this.log(`problem: ${f}`)
    if (s.findings.length > 0) this.setExitCode(ExitCode.CHECK_FAILED)
    return report
  }
}

const annotationsLine = (a: Record<string, string>): string => {
  const keys = Object.keys(a)
  return keys.length ? `; ${keys.map((k) => `${k.replace('cloudtaser.io/', '')}=${a[k]!.length > 60 ? `${a[k]!.slice(0, 57)}...` : a[k]}`).join(', ')}` : ''
}

function podLines(p: PodDiagnosis): string[] {
  const out = [`pod        ${p.name}: ${p.phase ?? '?'}${p.ready ? ', Ready' : ', not Ready'}${p.node ? ` on ${p.node}` : ', not scheduled'}`]
  out.push(`  injection  ${p.injection.labelled ? 'marked' : 'not marked'}, ${p.injection.wrapped ? 'runs under the wrapper' : 'NOT wrapped'}`)
  for (const c of p.containers) {
    const last = c.lastExit ? `; last exit ${c.lastExit.code ?? '?'}${c.lastExit.message ? `: ${c.lastExit.message}` : ''}` : ''
    out.push(`  container  ${c.name}: ${c.state}${c.reason ? ` (${c.reason})` : ''}, ${c.restarts} restart(s)${c.wrapped ? '' : ', not wrapped'}${last}`)
  }
  out.push(`  openbao    ${p.connectivity.address ?? '-'}: ${p.connectivity.detail}`)
  out.push(`  kernel     ${p.kernel.required ? 'enforcement required' : 'enforcement not required'}; node ${p.kernel.node ? `${p.kernel.node}: ${p.kernel.nodeVerdict ?? 'no agent verdict'}` : '-'}; ${p.kernel.enforcingNodes > 0 ? 'enforcing nodes exist' : 'no enforcing node'}`)
  for (const e of p.events.filter((x) => x.type === 'Warning').slice(-5)) out.push(`  event      ${e.reason}${e.count > 1 ? ` (x${e.count})` : ''}: ${e.message}`)
  return out
}
