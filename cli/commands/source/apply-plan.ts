import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {concurrencyFlag, openBaoClientFromFlags, openBaoFlags} from '../../flags/openbao.js'
import {parseDuration} from '../../../lib/duration.js'
import {ExitCode} from '../../../lib/errors.js'
import {renderActions, summaryLine} from '../../../lib/openbao/actions.js'
import {applyPlan, DEFAULT_TTLS, type ApplyPlanResult} from '../../../lib/openbao/apply-plan.js'
import {loadPlan} from '../../../lib/plan/io.js'

export default class SourceApplyPlan extends BaseCommand<typeof SourceApplyPlan> {
  static override summary = 'Create each tenant\'s OpenBao policy and kubernetes-auth role from a reviewed plan.'
  static override description = `Per tenant: an ACL policy granting read on exactly that tenant's KV v2 secret paths, and a kubernetes-auth role bound to its namespace and service accounts with that policy. For each workload whose plan entry records an S3 proxy (s3Proxy): read on its credentials and its Transit key's encrypt, decrypt and read in that policy, and the Transit mount and key themselves when missing (aes256-gcm96; an existing key is never changed). Idempotent: a second run reports everything unchanged. Policies carry a "# managed-by: cloudtaser; plan=NAME" first line; a policy or role cloudtaser did not create is reported as a conflict (exit 6) and nothing is written unless --force. Never reads or writes secret values.`
  static override examples = [
    '<%= config.bin %> source apply-plan plan.yaml --dry-run',
    'BAO_ADDR=https://openbao.eu.example:8200 <%= config.bin %> source apply-plan plan.yaml',
    '<%= config.bin %> source apply-plan plan.yaml --json',
  ]
  static override args = {plan: Args.string({description: 'The reviewed plan file.', required: true})}
  static override flags = {
    ...openBaoFlags,
    'dry-run': Flags.boolean({description: 'Show what would be created, updated or left alone; write nothing.'}),
    force: Flags.boolean({description: 'Overwrite policies and roles that cloudtaser did not create.'}),
    'token-ttl': Flags.string({description: 'TTL of the tokens the roles issue.', default: `${DEFAULT_TTLS.tokenTtl / 60}m`}),
    'token-max-ttl': Flags.string({description: 'Maximum TTL of the tokens the roles issue.', default: `${DEFAULT_TTLS.tokenMaxTtl / 60}m`}),
    concurrency: concurrencyFlag,
    'allow-cluster-migrate': Flags.boolean({description: 'Also let `target migrate --via-broker` write the plan\'s values from the cluster side (beacon mode): a role cloudtaser-migrate on the plan\'s jwt mount, bound to the ServiceAccount cloudtaser-migrator beside the broker, whose policy may write and read back exactly the plan\'s KV paths (10-minute tokens). Without it, that role and policy, if this plan wrote them, are deleted.'}),
  }

  async run(): Promise<ApplyPlanResult> {
    const f = this.flags
    const {plan} = await loadPlan(this.args.plan)
    const client = openBaoClientFromFlags(f)
    try {
      const ttls = {tokenTtl: parseDuration(f['token-ttl']) / 1000, tokenMaxTtl: parseDuration(f['token-max-ttl']) / 1000}
      const result = await applyPlan(client, plan, {dryRun: f['dry-run'], force: f.force, ttls, concurrency: f.concurrency, clusterMigrate: f['allow-cluster-migrate']})
      this.log(`Plan ${result.plan}: KV ${result.kvMounts.map((m) => `${m.mount}/ (v${m.version})`).join(', ') || '-'}, auth/${result.authMount}/${result.dryRun ? ' (dry run: nothing written)' : ''}`)
      for (const line of renderActions(result.actions, result.dryRun || result.refused)) this.log(`  ${line}`)
      this.log(summaryLine(result.summary, result.dryRun || result.refused))
      if (result.refused) {
        this.logToStderr('Conflicts: nothing was written. Rename the tenant\'s policy/role in the plan, or re-run with --force to take them over.')
        this.setExitCode(ExitCode.CONFLICT)
      }
      return result
    } finally {
      await client.close()
    }
  }
}
