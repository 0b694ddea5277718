import {BaseCommand} from '../../../base-command.js'
import {approvalFlags, checkApproval} from '../../../flags/approval.js'
import {migrateConnections, migrateFlags, secretFilterFlag} from '../../../flags/migrate.js'
import {currentActor} from '../../../../lib/actor.js'
import {ExitCode} from '../../../../lib/errors.js'
import {rollback, type RollbackResult} from '../../../../lib/migrate/rollback.js'
import {askRestore, renderRollback} from '../../../../lib/migrate/render.js'
import {loadPlan} from '../../../../lib/plan/io.js'

export default class TargetMigrateRollback extends BaseCommand<typeof TargetMigrateRollback> {
  static override summary = 'Recreate the Kubernetes Secrets finalize deleted, from OpenBao, with their recorded type, labels and annotations.'
  static override description = `Each recorded Secret that no longer exists is created again from OpenBao's current version (binary fields decoded back), with the type, immutability, labels and annotations recorded at copy time (last-applied-configuration and annotations shaped like secrets were never recorded, so they do not come back). The new Secret is read back and compared with OpenBao by digest, and the plan records the restore. Run it before \`target unprotect\`, which points the workloads at the Secrets again. Secrets that exist are left as they are.`
  static override examples = [
    '<%= config.bin %> target migrate rollback --plan plan.yaml --dry-run',
    '<%= config.bin %> target migrate rollback --plan plan.yaml --yes && <%= config.bin %> target unprotect --plan plan.yaml --yes',
  ]
  static override flags = {...migrateFlags, ...approvalFlags, secret: secretFilterFlag}

  async run(): Promise<RollbackResult> {
    const f = this.flags
    checkApproval(f)
    const loaded = await loadPlan(f.plan)
    const {kc, bao} = await migrateConnections(f, loaded.plan)
    try {
      const result = await rollback({
        kc, loaded, bao, actor: currentActor(), dryRun: f['dry-run'], secrets: f.secret, concurrency: f.concurrency,
        decide: f.interactive ? askRestore : undefined,
        onOutcome: (o) => this.log(renderRollback(o)),
      })
      this.log(`${result.dryRun ? 'Dry run, nothing created: ' : ''}${Object.entries(result.counts).map(([k, n]) => `${k} ${n}`).join(', ') || 'nothing recorded to restore'}`)
      if (result.counts.failed) this.setExitCode(ExitCode.CHECK_FAILED)
      return result
    } finally {
      await bao.close()
    }
  }
}
