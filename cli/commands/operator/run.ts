import {Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {kubeConfigFromFlags, kubeFlags} from '../../flags/kube.js'
import {CloudtaserError, ExitCode} from '../../../lib/errors.js'
import {DEFAULT_WRAPPER_SOURCE, EBPF_SOCKET_DIR, parseCaConfigMap} from '../../../runtime/operator/mutation.js'
import {parseMirrors, RegistryClient} from '../../../runtime/operator/registry.js'
import {startOperator, type Operator} from '../../../runtime/operator/server.js'

export interface OperatorRunResult {
  url: string
  stats: Operator['stats']
}

export default class OperatorRun extends BaseCommand<typeof OperatorRun> {
  static override summary = 'Run the mutating admission webhook that wraps opted-in pods.'
  static override description = `Generates a CA and serving certificate in memory, listens on HTTPS, then creates or replaces the MutatingWebhookConfiguration "cloudtaser-inject" with this start's caBundle (no Kubernetes Secret holds a key). Only pods labelled cloudtaser.io/inject=true are sent to it (objectSelector). /mutate-v1-pod answers with a JSONPatch; /healthz and /readyz depend on nothing remote. Logs are JSON lines on stderr. Stops on SIGTERM/SIGINT. See docs/operator.md.`
  static override examples = [
    '<%= config.bin %> operator run --service-name cloudtaser-operator --service-namespace cloudtaser-system --wrapper-image registry.example/cloudtaser-wrapper:0.1.0',
    '<%= config.bin %> operator run --host 127.0.0.1 --port 0 --wrapper-image w:1 --kubeconfig lab/kubeconfig',
  ]
  static override flags = {
    ...kubeFlags,
    host: Flags.string({description: 'Listen address.', default: '0.0.0.0'}),
    port: Flags.integer({description: 'HTTPS port (0: any free port).', default: 9443, min: 0, max: 65535}),
    url: Flags.string({description: 'URL the apiserver calls (url mode, e.g. an operator outside the cluster); default: derived from --host and the bound port.', exclusive: ['service-name']}),
    'service-name': Flags.string({description: 'Service in front of the operator (service mode, the in-cluster default).', dependsOn: ['service-namespace']}),
    'service-namespace': Flags.string({description: 'Namespace of that Service.'}),
    'service-port': Flags.integer({description: 'Port of that Service.', default: 443}),
    'wrapper-image': Flags.string({description: 'Image holding the wrapper executable, run as the init container.', required: true}),
    'wrapper-source': Flags.string({description: 'Path of the wrapper executable in that image.', default: DEFAULT_WRAPPER_SOURCE}),
    'default-vault-address': Flags.string({description: 'OpenBao address for pods without cloudtaser.io/vault-address.'}),
    'default-vault-ca-configmap': Flags.string({description: 'ConfigMap (name or name/key, key ca.crt by default) with the PEM of OpenBao\'s CA, for pods without cloudtaser.io/vault-ca-configmap. It must exist in each protected namespace.'}),
    'ebpf-socket-dir': Flags.string({description: `Node directory holding the eBPF agent's socket (ebpf.sock), mounted at ${EBPF_SOCKET_DIR} in Pods with cloudtaser.io/ebpf: "true".`, default: EBPF_SOCKET_DIR}),
    'failure-policy': Flags.string({description: 'What the apiserver does when the webhook cannot answer (see docs/operator.md).', options: ['Fail', 'Ignore'], default: 'Fail'}),
    'timeout-seconds': Flags.integer({description: 'Apiserver timeout for one admission call.', default: 5, min: 1, max: 30}),
    'exclude-namespace': Flags.string({description: 'Namespace never sent to the webhook (repeatable).', multiple: true, default: ['kube-system', 'cloudtaser-system']}),
    'registry-mirror': Flags.string({description: 'Registry host=URL whose images are read from another endpoint, as the nodes\' containerd mirrors them (repeatable; e.g. cloudtaser.lab=http://10.245.0.2:5000).', multiple: true, default: []}),
    'no-register': Flags.boolean({description: 'Serve only; do not write the MutatingWebhookConfiguration.', default: false}),
  }

  async run(): Promise<OperatorRunResult> {
    const f = this.flags
    if (!f.url && !f['service-name'] && (f.host === '0.0.0.0' || f.host === '::') && !f['no-register']) {
      throw new CloudtaserError('OPERATOR_NO_ADDRESS', 'the apiserver needs an address to call: pass --url, --service-name, or a concrete --host', {exitCode: ExitCode.USAGE})
    }
    const caDefault = f['default-vault-ca-configmap'] ? parseCaConfigMap(f['default-vault-ca-configmap']) : undefined
    if (caDefault && 'error' in caDefault) throw new CloudtaserError('OPERATOR_BAD_CA_CONFIGMAP', `--default-vault-ca-configmap: ${caDefault.error}`, {exitCode: ExitCode.USAGE})
    if (!f['ebpf-socket-dir'].startsWith('/')) throw new CloudtaserError('USAGE', `--ebpf-socket-dir: "${f['ebpf-socket-dir']}" is not an absolute path`, {exitCode: ExitCode.USAGE})
    const mirrors = parseMirrors(f['registry-mirror'])
    if ('error' in mirrors) throw new CloudtaserError('OPERATOR_BAD_MIRROR', `--registry-mirror: ${mirrors.error}`, {exitCode: ExitCode.USAGE})
    // The operator's own namespace never goes through its webhook (it could not start otherwise).
    const exclude = [...new Set([...f['exclude-namespace'], ...(f['service-namespace'] ? [f['service-namespace']] : [])])]
    const op = await startOperator({
      mutation: {wrapperImage: f['wrapper-image'], wrapperSource: f['wrapper-source'], defaultVaultAddress: f['default-vault-address'], defaultVaultCaConfigMap: f['default-vault-ca-configmap'], ebpfSocketDir: f['ebpf-socket-dir']},
      host: f.host,
      port: f.port,
      url: f.url,
      service: f['service-name'] ? {name: f['service-name'], namespace: f['service-namespace']!, port: f['service-port']} : undefined,
      register: !f['no-register'],
      kubeConfig: f['no-register'] ? undefined : kubeConfigFromFlags(f),
      failurePolicy: f['failure-policy'] as 'Fail' | 'Ignore',
      timeoutSeconds: f['timeout-seconds'],
      excludeNamespaces: exclude,
      registry: new RegistryClient({mirrors}),
    })
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', resolve)
      process.once('SIGINT', resolve)
    })
    await op.close()
    return {url: op.url, stats: op.stats}
  }
}
