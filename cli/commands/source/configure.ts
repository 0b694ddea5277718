import {Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {openBaoClientFromFlags, openBaoFlags} from '../../flags/openbao.js'
import {ExitCode} from '../../../lib/errors.js'
import {renderActions, summarize, summaryLine} from '../../../lib/openbao/actions.js'
import {configureOperator, OPERATOR_DEFAULTS, type ConfigureResult} from '../../../lib/openbao/configure.js'
import {configureJwtFromRegistration} from '../../../lib/openbao/jwt-auth.js'

export default class SourceConfigure extends BaseCommand<typeof SourceConfigure> {
  static override summary = 'Create the cloudtaser operator\'s own OpenBao policy and kubernetes-auth role.'
  static override description = `The operator keeps its webhook TLS, broker certificates and tokens in OpenBao under <kv-mount>/cloudtaser/system/*, never in Kubernetes Secrets. This creates the policy (create/read/update on that prefix's data, read on its metadata, nothing else) and a kubernetes-auth role bound to the operator's ServiceAccount, which \`operator run --secret-backend openbao --bao-role <role>\` logs in with. Idempotent; --dry-run writes nothing.`
  static override examples = ['<%= config.bin %> source configure --dry-run', '<%= config.bin %> source configure --openbao-addr https://openbao.eu.example:8200']
  static override flags = {
    ...openBaoFlags,
    'dry-run': Flags.boolean({description: 'Show what would be created or updated; write nothing.'}),
    force: Flags.boolean({description: 'Overwrite a policy or role of the same name that cloudtaser did not create.'}),
    'kv-mount': Flags.string({description: 'KV version 2 mount.', default: OPERATOR_DEFAULTS.kvMount}),
    'auth-mount': Flags.string({description: 'Kubernetes auth mount, without auth/.', default: OPERATOR_DEFAULTS.authMount}),
    'operator-namespace': Flags.string({description: 'Namespace the operator runs in.', default: OPERATOR_DEFAULTS.namespace}),
    'operator-service-account': Flags.string({description: 'The operator\'s ServiceAccount.', default: OPERATOR_DEFAULTS.serviceAccount}),
    role: Flags.string({description: 'Name of the policy and of the role (the operator\'s --bao-role).', default: OPERATOR_DEFAULTS.name}),
    'jwt-from-registration': Flags.string({description: 'Beacon mode: make --auth-mount a jwt auth method with the public keys and issuer the bridge recorded for this cluster fingerprint (OpenBao cannot reach the apiserver for a TokenReview). Roles written to it then bind ServiceAccount token subjects.'}),
  }

  async run(): Promise<ConfigureResult> {
    const f = this.flags
    const client = openBaoClientFromFlags(f)
    try {
      const jwt = f['jwt-from-registration'] ? await configureJwtFromRegistration(client, {fingerprint: f['jwt-from-registration'], mount: f['auth-mount'], dryRun: f['dry-run']}) : []
      const operator = await configureOperator(
        client,
        {...OPERATOR_DEFAULTS, kvMount: f['kv-mount'], authMount: f['auth-mount'], namespace: f['operator-namespace'], serviceAccount: f['operator-service-account'], name: f.role},
        {dryRun: f['dry-run'], force: f.force},
      )
      const result = {...operator, actions: [...jwt, ...operator.actions], summary: summarize([...jwt, ...operator.actions])}
      for (const line of renderActions(result.actions, result.dryRun || result.refused)) this.log(`  ${line}`)
      this.log(summaryLine(result.summary, result.dryRun || result.refused))
      if (result.refused) this.setExitCode(ExitCode.CONFLICT)
      return result
    } finally {
      await client.close()
    }
  }
}
