import {Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {approvalFlags, checkApproval} from '../../flags/approval.js'
import {kubeConfigFromFlags, kubeFlags} from '../../flags/kube.js'
import {currentActor} from '../../../lib/actor.js'
import {ExitCode} from '../../../lib/errors.js'
import {loadPlan} from '../../../lib/plan/io.js'
import {askUnprotect} from '../../../lib/protect/prompt.js'
import {unprotect, type UnprotectResult} from '../../../lib/protect/unprotect.js'

export default class TargetUnprotect extends BaseCommand<typeof TargetUnprotect> {
  static override summary = 'Undo protect: remove the cloudtaser annotations and restore the recorded Secret references.'
  static override description = `It rolls production workloads, so it is approved like protect: --interactive asks per workload, --yes approves all, --dry-run changes nothing; one of them is required.`
  static override examples = [
    '<%= config.bin %> target unprotect --plan plan.yaml --interactive',
    '<%= config.bin %> target unprotect --plan plan.yaml --yes',
    '<%= config.bin %> target unprotect --plan plan.yaml --dry-run --json',
  ]
  static override flags = {
    ...kubeFlags,
    plan: Flags.string({char: 'p', description: 'The plan protect recorded its changes in.', required: true}),
    ...approvalFlags,
  }

  async run(): Promise<UnprotectResult> {
    const f = this.flags
    checkApproval(f)
    const result = await unprotect({
      kc: kubeConfigFromFlags(f),
      loaded: await loadPlan(f.plan),
      actor: currentActor(),
      dryRun: f['dry-run'],
      decide: f.interactive ? askUnprotect : undefined,
      onOutcome: (o) => this.log(`${o.outcome}: ${o.kind} ${o.namespace}/${o.name}${o.restored ? ` (${o.restored} reference(s))` : ''}${o.reason ? ` - ${o.reason}` : ''}`),
    })
    if (result.processed.some((o) => o.outcome === 'failed')) this.setExitCode(ExitCode.CHECK_FAILED)
    return result
  }
}
