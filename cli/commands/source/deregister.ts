import {Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {clusterFlags, registerOpenBaoFlags} from '../../flags/cluster.js'
import {openBaoClientFromFlags} from '../../flags/openbao.js'
import {ExitCode} from '../../../lib/errors.js'
import {renderActions, summaryLine} from '../../../lib/openbao/actions.js'
import {resolveClusterIdentity} from '../../../lib/openbao/cluster-identity.js'
import {deregisterCluster, type DeregisterResult} from '../../../lib/openbao/deregister.js'

export default class SourceDeregister extends BaseCommand<typeof SourceDeregister> {
  static override summary = 'Remove a cluster\'s registration from OpenBao; --purge also removes its namespace (or mount), CA and bridge policy.'
  static override description = `Deletes clusters/<fingerprint>/registered and clusters/<fingerprint>/initialized (all versions): the bridge then refuses the cluster. The CA stays unless --purge, but a later register never reuses it. --purge deletes the cluster's OpenBao namespace cloudtaser/<id> with everything in it (OpenBao deletes namespaces in the background), or with --no-namespace the CA, the bridge policy and the mount cloudtaser-<id>. Objects not made by cloudtaser for this cluster are conflicts (exit 6) and nothing is deleted.`
  static override examples = [
    '<%= config.bin %> source deregister --fingerprint 0ad50c05-1153-4508-9237-4cb2912e2c23 --dry-run',
    '<%= config.bin %> source deregister --plan plan.yaml --purge',
    '<%= config.bin %> source deregister --fingerprint 0ad50c05-1153-4508-9237-4cb2912e2c23 --json',
  ]
  static override flags = {
    ...registerOpenBaoFlags,
    ...clusterFlags,
    'dry-run': Flags.boolean({description: 'Show what would be deleted; delete nothing.'}),
    purge: Flags.boolean({description: 'Also delete the cluster\'s namespace (or mount), its CA and the bridge policy.'}),
  }

  async run(): Promise<DeregisterResult> {
    const f = this.flags
    const cluster = await resolveClusterIdentity({fingerprint: f.fingerprint, plan: f.plan})
    const client = openBaoClientFromFlags(f)
    try {
      const r = await deregisterCluster(client, cluster, {dryRun: f['dry-run'], purge: f.purge, namespaces: !f['no-namespace']})
      this.log(`Cluster ${r.fingerprint}: ${r.namespace ? `namespace ${r.namespace}/, ` : ''}mount ${r.mount}/${r.dryRun ? ' (dry run: nothing deleted)' : ''}`)
      for (const line of renderActions(r.actions, r.dryRun || r.refused)) this.log(`  ${line}`)
      this.log(summaryLine(r.summary, r.dryRun || r.refused))
      if (r.refused) {
        this.logToStderr('Conflicts: nothing was deleted.')
        this.setExitCode(ExitCode.CONFLICT)
      }
      return r
    } finally {
      await client.close()
    }
  }
}
