import {Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {approvalFlags, checkApproval} from '../../flags/approval.js'
import {kubeConfigFromFlags, kubeFlags} from '../../flags/kube.js'
import {currentActor} from '../../../lib/actor.js'
import {ExitCode} from '../../../lib/errors.js'
import {loadPlan} from '../../../lib/plan/io.js'
import {parseDuration} from '../../../lib/duration.js'
import {askDecision} from '../../../lib/protect/prompt.js'
import {progressPrinter} from '../../../lib/protect/render.js'
import {protect, type ProtectResult} from '../../../lib/protect/run.js'

export default class TargetProtect extends BaseCommand<typeof TargetProtect> {
  static override summary = 'Annotate and roll the workloads of a reviewed plan, recording each status in the plan.'
  static override description = `Does exactly what the plan says: for each pending workload, the cloudtaser annotations go on the pod template and the Secret references the wrapper replaces are removed (they are recorded in the plan, and \`target unprotect\` puts them back). Each workload's status (migrated, skipped, failed, with when and by whom) is written back into the plan. Re-running skips migrated and skipped workloads, so an interrupted run is resumed by running it again. Refuses a plan for another cluster, and a second protect while one runs.`
  static override examples = [
    '<%= config.bin %> target protect --plan plan.yaml --interactive',
    '<%= config.bin %> target protect --plan plan.yaml --yes --wait --timeout 10m',
    '<%= config.bin %> target protect --plan plan.yaml --dry-run',
  ]
  static override flags = {
    ...kubeFlags,
    plan: Flags.string({char: 'p', description: 'The reviewed plan file; updated in place.', required: true}),
    ...approvalFlags,
    wait: Flags.boolean({description: 'Follow each rollout until the controller has created the new revision.'}),
    timeout: Flags.string({description: 'How long --wait waits per workload (e.g. 90s, 5m).', default: '5m'}),
    'vault-address': Flags.string({description: 'OpenBao or broker URL for the pods (default: the plan\'s openbao.address).'}),
    concurrency: Flags.integer({description: 'Workloads patched in parallel with --yes.', default: 8, min: 1, max: 64}),
  }

  async run(): Promise<ProtectResult> {
    const f = this.flags
    checkApproval(f)
    const loaded = await loadPlan(f.plan)
    const abort = new AbortController()
    const onSignal = (): void => {
      if (!abort.signal.aborted) this.logToStderr('interrupted: finishing the workloads in flight and saving the plan (Ctrl-C again to stop at once)')
      else process.exit(ExitCode.INTERRUPTED)
      abort.abort()
    }
    process.on('SIGINT', onSignal)
    try {
      const result = await protect({
        kc: kubeConfigFromFlags(f),
        loaded,
        actor: currentActor(),
        dryRun: f['dry-run'],
        decide: f.interactive ? askDecision : undefined,
        wait: f.wait,
        timeoutMs: parseDuration(f.timeout),
        vaultAddress: f['vault-address'],
        concurrency: f.concurrency,
        signal: abort.signal,
        onEvent: progressPrinter((l) => this.log(l), f['dry-run'] || f.interactive),
      })
      const failed = result.processed.filter((o) => o.outcome === 'failed').length
      this.log(f['dry-run'] ? 'Dry run: nothing was changed.' : `Plan ${result.plan} updated (${result.planWrites} write(s)).`)
      if (abort.signal.aborted) this.setExitCode(ExitCode.INTERRUPTED)
      else if (failed > 0) this.setExitCode(ExitCode.CHECK_FAILED)
      return result
    } finally {
      process.off('SIGINT', onSignal)
    }
  }
}
