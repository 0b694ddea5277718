import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {kubeConfigFromFlags, kubeFlags} from '../../flags/kube.js'
import {concurrencyFlag, openBaoClientFromFlags, openBaoFlags} from '../../flags/openbao.js'
import {currentActor} from '../../../lib/actor.js'
import {ExitCode} from '../../../lib/errors.js'
import {checkMigration, type CheckResult} from '../../../lib/migrate/check.js'
import {renderCheck} from '../../../lib/migrate/render.js'
import {verifyPlan, type VerifyPlanResult} from '../../../lib/openbao/verify-plan.js'
import {loadPlan} from '../../../lib/plan/io.js'
import type {TransitKeyCheck} from '../../../lib/openbao/transit-keys.js'

export default class SourceVerifyPlan extends BaseCommand<typeof SourceVerifyPlan> {
  static override summary = 'Check that every secret a plan needs is in OpenBao, current, with every mapped field (and every S3 proxy\'s Transit key).'
  static override description = `For each secret path: it exists, its current version is neither deleted nor destroyed, and every field the plan maps (env fields, file items) is present. Reads metadata only when no field is mapped; otherwise reads the secret and keeps only its field names. Values are never printed, logged or kept. Exit 1 when anything is missing.
Where this side also reaches the cluster, --migration adds the drift check of \`target migrate --check\` (the same code): a Secret re-created after finalize or changed after its copy, compared by digest, never shown. Exit 1 on drift too.`
  static override examples = ['<%= config.bin %> source verify-plan plan.yaml', '<%= config.bin %> source verify-plan plan.yaml --json', '<%= config.bin %> source verify-plan plan.yaml --migration --context prod-eu-1']
  static override args = {plan: Args.string({description: 'The reviewed plan file.', required: true})}
  static override flags = {
    ...openBaoFlags,
    concurrency: concurrencyFlag,
    migration: Flags.boolean({description: 'Also compare the plan\'s migrated Secrets with the cluster (needs it: KUBECONFIG, --context), as `target migrate --check`.', default: false}),
    ...kubeFlags,
  }

  async run(): Promise<VerifyPlanResult & {migration?: CheckResult}> {
    const loaded = await loadPlan(this.args.plan)
    const {plan} = loaded
    const client = openBaoClientFromFlags(this.flags)
    try {
      const result = await verifyPlan(client, plan, {concurrency: this.flags.concurrency})
      const w = Math.max(4, ...result.secrets.map((s) => s.vaultPath.length))
      this.log(`${'PATH'.padEnd(w)}  ${'STATE'.padEnd(14)}  VERSION  DETAIL`)
      for (const s of result.secrets) {
        const detail = s.missingFields.length ? `missing field(s): ${s.missingFields.join(', ')}` : s.state !== 'ok' ? '' : s.checkedFields.length ? `${s.checkedFields.length} field(s) present` : 'exists (metadata only; envFrom/files take every field)'
        this.log(`${s.vaultPath.padEnd(w)}  ${s.state.padEnd(14)}  ${String(s.version ?? '-').padEnd(7)}  ${detail}`.trimEnd())
      }
      const keyState = (k: TransitKeyCheck) =>
        k.state === 'present' ? 'present' : k.state === 'missing' ? 'missing (`source apply-plan` creates it)' : k.state === 'no-mount' ? `missing, and nothing is mounted at ${k.mount}/ (\`source apply-plan\` creates both)` : `${k.mount}/ is a ${k.mountType} mount, not Transit`
      for (const k of result.transitKeys) this.log(`Transit key ${k.mount}/keys/${k.key}: ${keyState(k)} (${k.workloads.join(', ')})`)
      const bad = result.secrets.length - result.counts.ok
      const badKeys = result.transitKeys.filter((k) => k.state !== 'present').length
      this.log(result.ok ? `All ${result.secrets.length} secret(s)${result.transitKeys.length ? ` and ${result.transitKeys.length} Transit key(s)` : ''} present.` : `${bad} of ${result.secrets.length} secret(s)${result.transitKeys.length ? ` and ${badKeys} of ${result.transitKeys.length} Transit key(s)` : ''} not ready.`)
      if (!result.ok) this.setExitCode(ExitCode.CHECK_FAILED)
      if (!this.flags.migration) return result
      const migration = await checkMigration({kc: kubeConfigFromFlags(this.flags), loaded, bao: client, actor: currentActor(), concurrency: this.flags.concurrency})
      for (const line of renderCheck(migration)) this.log(line)
      if (!migration.ok) this.setExitCode(ExitCode.CHECK_FAILED)
      return {...result, migration}
    } finally {
      await client.close()
    }
  }
}
