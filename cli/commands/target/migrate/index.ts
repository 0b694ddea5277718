import {Flags} from '@oclif/core'
import {BaseCommand} from '../../../base-command.js'
import {migrateConnections, migrateFlags} from '../../../flags/migrate.js'
import {currentActor} from '../../../../lib/actor.js'
import {ExitCode} from '../../../../lib/errors.js'
import {checkMigration, type CheckResult} from '../../../../lib/migrate/check.js'
import {copySecrets, type CopyResult} from '../../../../lib/migrate/copy.js'
import {finalize, type FinalizeResult} from '../../../../lib/migrate/finalize.js'
import {renderCheck, renderCopy, renderFinalize} from '../../../../lib/migrate/render.js'
import {loadPlan} from '../../../../lib/plan/io.js'

export type MigrateCommandResult = (CopyResult & {finalize?: FinalizeResult}) | CheckResult

export default class TargetMigrate extends BaseCommand<typeof TargetMigrate> {
  static override summary = 'Copy the values of the plan\'s Kubernetes Secrets into OpenBao, proven equal by digest and recorded in the plan.'
  static override description = `Per Secret the plan's workloads read: every field to the field of the same name at the plan's vaultPath (KV v2), written with check-and-set, read back and compared with the Kubernetes values by an HMAC whose key exists only in this run's memory. Binary values (not UTF-8) are stored base64-encoded and listed in the plan. The plan records, per Secret, when, by whom, the KV version and the digest's algorithm, plus the type, labels and annotations rollback needs; never a value or anything a value could be recovered from. Values stay in memory and are zeroed after use.
A different value already in OpenBao is a conflict (exit 6, the differing fields named, nothing written for that Secret) unless --overwrite. Re-running resumes: Secrets recorded and unchanged are skipped, a value already in OpenBao is recorded rather than written again. --check reports drift instead of copying; --delete-source runs \`target migrate finalize\` afterwards.`
  static override examples = [
    '<%= config.bin %> target migrate --plan plan.yaml --dry-run',
    'BAO_ADDR=https://openbao.eu.example:8200 <%= config.bin %> target migrate --plan plan.yaml',
    '<%= config.bin %> target migrate --plan plan.yaml --overwrite --json',
    '<%= config.bin %> target migrate --plan plan.yaml --check',
    '<%= config.bin %> target migrate --plan plan.yaml --via-broker    # beacon mode: from the cluster side, through the broker',
  ]
  static override flags = {
    ...migrateFlags,
    'dry-run': Flags.boolean({description: 'Read both sides and list what would be copied, recorded or conflict; write nothing.', exclusive: ['check']}),
    overwrite: Flags.boolean({description: 'Replace values OpenBao already holds at a plan path when they differ (each a new KV version).', exclusive: ['check']}),
    check: Flags.boolean({description: 'Report drift (a Secret re-created after finalize, or changed after its copy) without copying; exit 1 on drift.'}),
    'delete-source': Flags.boolean({description: 'After copying, delete each Secret finalize allows (as `target migrate finalize --yes`).', exclusive: ['check', 'dry-run']}),
  }

  async run(): Promise<MigrateCommandResult> {
    const f = this.flags
    const loaded = await loadPlan(f.plan)
    const {kc, bao} = await migrateConnections(f, loaded.plan)
    const actor = currentActor()
    const abort = new AbortController()
    const onSignal = (): void => {
      if (abort.signal.aborted) process.exit(ExitCode.INTERRUPTED)
      this.logToStderr('interrupted: finishing the Secrets in flight and saving the plan (Ctrl-C again to stop at once)')
      abort.abort()
    }
    process.on('SIGINT', onSignal)
    try {
      if (f.check) {
        const result = await checkMigration({kc, loaded, bao, actor, concurrency: f.concurrency})
        for (const line of renderCheck(result)) this.log(line)
        const drift = result.secrets.filter((s) => s.drift).length
        this.log(drift === 0 ? `No drift in ${result.secrets.length} Secret(s).` : `${drift} of ${result.secrets.length} Secret(s) drifted.`)
        if (drift > 0) this.setExitCode(ExitCode.CHECK_FAILED)
        return result
      }
      const result: CopyResult & {finalize?: FinalizeResult} = await copySecrets({
        kc, loaded, bao, actor, dryRun: f['dry-run'], overwrite: f.overwrite, concurrency: f.concurrency, signal: abort.signal,
        onOutcome: (o) => this.log(renderCopy(o)),
      })
      this.log(`${f['dry-run'] ? 'Dry run, nothing written: ' : ''}${Object.entries(result.counts).map(([k, n]) => `${k} ${n}`).join(', ') || 'no Secrets'} (${result.requests.kubernetes} Kubernetes and ${result.requests.openbao.requests} OpenBao request(s))`)
      if (f['delete-source'] && !abort.signal.aborted) {
        result.finalize = await finalize({kc, loaded: await loadPlan(f.plan), bao, actor, concurrency: f.concurrency, onOutcome: (o) => renderFinalize(o).forEach((l) => this.log(l))})
      }
      const binary = result.processed.filter((o) => o.base64Fields && ['copied', 'updated', 'recorded', 'would-create', 'would-update', 'would-record'].includes(o.outcome))
      if (binary.length > 0) this.logToStderr(`${binary.length} Secret(s) have binary fields, stored base64 in OpenBao (listed in the plan as base64Fields); run \`target protect\` after this so the wrappers decode them (cloudtaser.io/base64-fields; docs/migrate.md, Binary values).`)
      const conflicts = result.counts.conflict ?? 0
      if (conflicts > 0) this.logToStderr(`${conflicts} conflict(s): OpenBao already holds different values (fields named above). Re-run with --overwrite to replace them, or point the plan at other paths.`)
      const bad = (result.counts.failed ?? 0) + (result.counts.drift ?? 0) + (result.finalize?.counts.failed ?? 0)
      if (abort.signal.aborted) this.setExitCode(ExitCode.INTERRUPTED)
      else if (conflicts > 0) this.setExitCode(ExitCode.CONFLICT)
      else if (bad > 0) this.setExitCode(ExitCode.CHECK_FAILED)
      return result
    } finally {
      process.off('SIGINT', onSignal)
      await bao.close()
    }
  }
}
