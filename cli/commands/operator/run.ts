import {Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {kubeConfigFromFlags, kubeFlags} from '../../flags/kube.js'
import {CloudtaserError, ExitCode} from '../../../lib/errors.js'
import {DEFAULT_WRAPPER_SOURCE} from '../../../runtime/operator/mutation.js'
import {jsonLogger, startOperator} from '../../../runtime/operator/server.js'

export interface OperatorRunResult {
  url: string
  reviews: number
  mutated: number
  denied: number
  skipped: number
}

export default class OperatorRun extends BaseCommand<typeof OperatorRun> {
  static override summary = 'Run the mutating admission webhook that wraps protected Pods.'
  static override description = `Generates a fresh CA and serving certificate in memory at start (with the openssl command), serves HTTPS on --port (POST /mutate-v1-pod, GET /healthz, /readyz), then creates or updates the MutatingWebhookConfiguration cloudtaser-inject with the new caBundle. Pods labelled cloudtaser.io/inject=true get an in-memory emptyDir, an init container that copies the wrapper from --wrapper-image, and each container's command replaced by /cloudtaser/wrapper. A container without command is refused. Logs are JSON lines on stderr. SIGTERM stops the server. See docs/operator.md.`
  static override examples = [
    '<%= config.bin %> operator run --wrapper-image registry.example/cloudtaser-wrapper:0.1 --service-name cloudtaser-operator --service-namespace cloudtaser-system',
    '<%= config.bin %> operator run --wrapper-image w:dev --host 127.0.0.1 --port 9443 --kubeconfig lab.kubeconfig',
  ]
  static override flags = {
    ...kubeFlags,
    'wrapper-image': Flags.string({description: 'Image that holds the wrapper executable.', required: true}),
    'wrapper-source': Flags.string({description: 'Path of the wrapper executable inside --wrapper-image.', default: DEFAULT_WRAPPER_SOURCE}),
    'vault-address': Flags.string({description: 'OpenBao address for Pods without a cloudtaser.io/vault-address annotation.'}),
    host: Flags.string({description: 'Listen address.', default: '0.0.0.0'}),
    port: Flags.integer({description: 'HTTPS port (0: any free port).', default: 9443, min: 0, max: 65535}),
    url: Flags.string({description: 'URL the apiserver calls (url mode; default https://<host>:<port>/mutate-v1-pod).', exclusive: ['service-name']}),
    'service-name': Flags.string({description: 'Service mode: the Service in front of the operator.', dependsOn: ['service-namespace']}),
    'service-namespace': Flags.string({description: 'Namespace of that Service (also excluded from injection).'}),
    'service-port': Flags.integer({description: 'Port of that Service.', default: 443}),
    'failure-policy': Flags.string({description: 'What the apiserver does when the webhook cannot be reached.', options: ['Fail', 'Ignore'], default: 'Fail'}),
    'timeout-seconds': Flags.integer({description: 'Webhook call timeout the apiserver applies.', default: 5, min: 1, max: 30}),
    'exclude-namespace': Flags.string({description: 'Namespace never sent to the webhook (repeatable).', multiple: true, default: ['kube-system', 'cloudtaser-system']}),
    'no-register': Flags.boolean({description: 'Serve only; do not write the MutatingWebhookConfiguration.', default: false}),
  }

  async run(): Promise<OperatorRunResult> {
    const f = this.flags
    if (!f.url && !f['service-name'] && (f.host === '0.0.0.0' || f.host === '::') && !f['no-register']) {
      throw new CloudtaserError('OPERATOR_NO_ADDRESS', 'the apiserver needs an address to call: pass --url, --service-name, or a concrete --host', {exitCode: ExitCode.USAGE})
    }
    const exclude = [...new Set([...f['exclude-namespace'], ...(f['service-namespace'] ? [f['service-namespace']] : [])])]
    const op = await startOperator({
      mutation: {wrapperImage: f['wrapper-image'], wrapperSource: f['wrapper-source'], defaultVaultAddress: f['vault-address']},
      host: f.host,
      port: f.port,
      url: f.url,
      service: f['service-name'] ? {name: f['service-name'], namespace: f['service-namespace']!, port: f['service-port']} : undefined,
      register: !f['no-register'],
      kubeConfig: f['no-register'] ? undefined : kubeConfigFromFlags(f),
      failurePolicy: f['failure-policy'] as 'Fail' | 'Ignore',
      timeoutSeconds: f['timeout-seconds'],
      excludeNamespaces: exclude,
      log: jsonLogger(process.stderr),
    })
    await new Promise<void>((resolve) => {
      for (const s of ['SIGTERM', 'SIGINT'] as const) process.once(s, () => resolve())
    })
    await op.close()
    return {url: op.url, ...op.stats}
  }
}
