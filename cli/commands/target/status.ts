import {Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {kubeFlags, kubeTargetFromFlags} from '../../flags/kube.js'
import {clusterStatus, type StatusReport} from '../../../lib/status/cluster.js'
import {ExitCode} from '../../../lib/errors.js'

export default class TargetStatus extends BaseCommand<typeof TargetStatus> {
  static override summary = 'Is cloudtaser installed and working: operator replicas and leader, webhook reachability, each node\'s kernel verdict, and whether every Pod marked for injection really runs under the wrapper.'
  static override description = `Read-only. The webhook is probed through the apiserver's service proxy (the path admission takes; needs get on services/proxy in the operator's namespace). A Pod labelled cloudtaser.io/inject=true that runs without the wrapper is reported: it was created while the webhook did not answer under failurePolicy Ignore. Exit 1 when anything is wrong, each finding on its own line.`
  static override examples = ['<%= config.bin %> target status', '<%= config.bin %> target status --json']
  static override flags = {
    ...kubeFlags,
    namespace: Flags.string({char: 'n', description: 'Where cloudtaser is installed.', default: 'cloudtaser-system'}),
  }

  async run(): Promise<StatusReport> {
    const r = await clusterStatus(kubeTargetFromFlags(this.flags), this.flags.namespace)
    const op = r.operator
    this.log(`operator   ${op.found ? `${op.ready}/${op.desired} ready${op.leader ? `, leader ${op.leader.holder}${op.leader.renewedSecondsAgo !== undefined ? ` (renewed ${op.leader.renewedSecondsAgo} s ago)` : ''}` : ''}` : 'not found'}`)
    const wh = r.webhook
    this.log(`webhook    ${wh.found ? `${wh.target ?? '?'}, failurePolicy ${wh.failurePolicy ?? '?'}, caBundle ${wh.caBundle ? 'set' : 'missing'}${wh.reachable ? `, ${wh.reachable.ok ? 'reachable' : 'NOT reachable'}` : ''}` : 'not found'}`)
    for (const n of r.nodes) this.log(`node       ${n.name}: ${n.verdict}`)
    for (const w of r.workloads) this.log(`workload   ${w.kind} ${w.namespace}/${w.name}: ${w.wrapped}/${w.pods} Pods under the wrapper, ${w.ready} Ready`)
    if (r.problems.length === 0) this.log('All well.')
    for (const p of r.problems) this.log(`problem: ${p}`)
    if (r.problems.length > 0) this.setExitCode(ExitCode.CHECK_FAILED)
    return r
  }
}
