import {Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {kubeConfigFromFlags, kubeFlags} from '../../flags/kube.js'
import {openBaoClientFromFlags, openBaoFlags} from '../../flags/openbao.js'
import {parseDuration} from '../../../lib/duration.js'
import {ExitCode} from '../../../lib/errors.js'
import {renderActions, summaryLine} from '../../../lib/openbao/actions.js'
import {clusterEndpoint, CONNECT_DEFAULTS, connectCluster, type ConnectResult} from '../../../lib/openbao/connect.js'
import {authMountOf} from '../../../lib/openbao/plan-paths.js'
import {loadPlan} from '../../../lib/plan/io.js'

export default class TargetConnect extends BaseCommand<typeof TargetConnect> {
  static override summary = 'Configure OpenBao\'s kubernetes auth method for this cluster.'
  static override description = `Enables the kubernetes auth method (if needed) and sets the API address, the cluster CA and a token reviewer: a dedicated ServiceAccount bound to system:auth-delegator, created by this command, whose token comes from TokenRequest (no Kubernetes Secret). Needs the kubeconfig and OpenBao. Re-running changes nothing unless something drifted; --renew-reviewer-token stores a fresh reviewer token.`
  static override examples = [
    '<%= config.bin %> target connect --dry-run',
    '<%= config.bin %> target connect --plan plan.yaml --kubeconfig ~/.kube/prod-eu-1',
    '<%= config.bin %> target connect --auth-mount kubernetes/prod-eu-1 --kubernetes-host https://10.0.0.1:6443',
  ]
  static override flags = {
    ...kubeFlags,
    ...openBaoFlags,
    'dry-run': Flags.boolean({description: 'Show what would be created or updated; change nothing.'}),
    force: Flags.boolean({description: 'Replace a ClusterRoleBinding of the same name that cloudtaser did not create.'}),
    plan: Flags.string({char: 'p', description: 'Take the auth mount from this plan (openbao.authMount).'}),
    'auth-mount': Flags.string({description: `Kubernetes auth mount, without auth/ (default: the plan's, else ${CONNECT_DEFAULTS.authMount}).`, exclusive: ['plan']}),
    'kubernetes-host': Flags.string({description: 'API server URL as OpenBao reaches it (default: the kubeconfig\'s).'}),
    'kubernetes-ca-cert': Flags.string({description: 'PEM file of the API server CA (default: the kubeconfig\'s).'}),
    'reviewer-namespace': Flags.string({description: 'Namespace of the token reviewer ServiceAccount.', default: CONNECT_DEFAULTS.reviewerNamespace}),
    'reviewer-token-ttl': Flags.string({description: 'Lifetime to request for the reviewer token.', default: '8760h'}),
    'renew-reviewer-token': Flags.boolean({description: 'Store a freshly requested reviewer token even if nothing else changed.'}),
  }

  async run(): Promise<ConnectResult> {
    const f = this.flags
    const authMount = f['auth-mount'] ?? (f.plan ? authMountOf((await loadPlan(f.plan)).plan) : CONNECT_DEFAULTS.authMount)
    const kc = kubeConfigFromFlags(f)
    const endpoint = clusterEndpoint(kc, {host: f['kubernetes-host'], caFile: f['kubernetes-ca-cert']})
    const client = openBaoClientFromFlags(f)
    try {
      const result = await connectCluster(
        client,
        kc,
        {
          ...CONNECT_DEFAULTS,
          ...endpoint,
          authMount,
          reviewerNamespace: f['reviewer-namespace'],
          tokenSeconds: Math.round(parseDuration(f['reviewer-token-ttl']) / 1000),
          renewToken: f['renew-reviewer-token'],
        },
        {dryRun: f['dry-run'], force: f.force},
      )
      this.log(`auth/${result.authMount}/ -> ${result.kubernetesHost}${result.dryRun ? ' (dry run: nothing changed)' : ''}`)
      for (const line of renderActions(result.actions, result.dryRun || result.refused)) this.log(`  ${line}`)
      this.log(summaryLine(result.summary, result.dryRun || result.refused))
      if (result.reviewerTokenExpires) this.log(`Reviewer token expires ${result.reviewerTokenExpires}: run \`cloudtaser target connect --renew-reviewer-token\` before then.`)
      if (result.refused) this.setExitCode(ExitCode.CONFLICT)
      return result
    } finally {
      await client.close()
    }
  }
}
