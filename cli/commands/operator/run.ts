import {Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {kubeConfigFromFlags, kubeFlags} from '../../flags/kube.js'
import {openBaoFlags} from '../../flags/openbao.js'
import {parseDuration} from '../../../lib/duration.js'
import {CloudtaserError, ExitCode} from '../../../lib/errors.js'
import {resolveConnection} from '../../../lib/openbao/config.js'
import {SA_TOKEN_FILE} from '../../../lib/openbao/session.js'
import {backendKind, makeStore} from '../../../runtime/operator/backend.js'
import {DEFAULT_WRAPPER_SOURCE, EBPF_SOCKET_DIR, parseCaConfigMap} from '../../../runtime/operator/mutation.js'
import {parseMirrors, RegistryClient} from '../../../runtime/operator/registry.js'
import {launchOperator, LEADER_LEASE_NAME, type Operator} from '../../../runtime/operator/server.js'

export interface OperatorRunResult {
  url: string
  identity: string
  backend: string
  stats: Operator['stats']
}

const usage = (message: string) => new CloudtaserError('USAGE', message, {exitCode: ExitCode.USAGE})

export default class OperatorRun extends BaseCommand<typeof OperatorRun> {
  static override summary = 'Run the mutating admission webhook that wraps opted-in pods.'
  static override description = `Serves /mutate-v1-pod over HTTPS and keeps MutatingWebhookConfiguration "cloudtaser-inject" pointing at it with the right caBundle. Only pods labelled cloudtaser.io/inject=true are sent to it (objectSelector).

The webhook CA and serving certificate (--secret-backend): "openbao" keeps them in OpenBao KV v2 at <kv-mount>/cloudtaser/system/webhook-tls (the operator logs in with its ServiceAccount token through kubernetes auth: BAO_ADDR, BAO_CACERT, --bao-role), so every replica serves the same material and no Kubernetes Secret exists; "kubernetes" keeps them in a Secret (fallback, warned at start); "memory" makes a new CA per start (one replica, a workstation). With a shared backend, replicas elect a leader on the Lease ${LEADER_LEASE_NAME} for the webhook configuration and rotation; all serve admission. Certificates rotate before expiry without a restart.

/healthz, /readyz (200 once the material is loaded), /status and /metrics on the ops port. Logs are JSON lines on stderr. Stops on SIGTERM/SIGINT. See docs/operator.md.`
  static override examples = [
    '<%= config.bin %> operator run --secret-backend openbao --service-name cloudtaser-operator --service-namespace cloudtaser-system --webhook-config ca-bundle --wrapper-image registry.example/cloudtaser-wrapper:0.1.0',
    '<%= config.bin %> operator run --host 127.0.0.1 --port 0 --ops-port 0 --wrapper-image w:1 --kubeconfig lab/kubeconfig',
  ]
  static override flags = {
    ...kubeFlags,
    ...openBaoFlags,
    host: Flags.string({description: 'Listen address.', default: '0.0.0.0'}),
    port: Flags.integer({description: 'HTTPS port (0: any free port).', default: 9443, min: 0, max: 65535}),
    'reuse-port': Flags.boolean({description: 'Share --port with other operator processes on this host (SO_REUSEPORT; the kernel spreads connections, as a Service spreads them over Pods).', default: false}),
    'ops-host': Flags.string({description: 'Listen address of the ops port (/healthz, /readyz, /status, /metrics; plain HTTP).', default: '0.0.0.0'}),
    'ops-port': Flags.integer({description: 'Ops port (0: any free port).', default: 8081, min: 0, max: 65535}),
    url: Flags.string({description: 'URL the apiserver calls (url mode, e.g. an operator outside the cluster); default: derived from --host and the bound port.', exclusive: ['service-name']}),
    'service-name': Flags.string({description: 'Service in front of the operator (service mode, the in-cluster default).', dependsOn: ['service-namespace']}),
    'service-namespace': Flags.string({description: 'Namespace of that Service.'}),
    'service-port': Flags.integer({description: 'Port of that Service.', default: 443}),
    'wrapper-image': Flags.string({description: 'Image holding the wrapper executable, run as the init container.', required: true}),
    'wrapper-source': Flags.string({description: 'Path of the wrapper executable in that image.', default: DEFAULT_WRAPPER_SOURCE}),
    's3-proxy-image': Flags.string({description: 'The cloudtaser image (this one): Pods with cloudtaser.io/s3-proxy: "true" get `s3-proxy run` from it as a sidecar (docs/s3-proxy.md); without it they are refused.'}),
    'default-vault-address': Flags.string({description: 'OpenBao address for pods without cloudtaser.io/vault-address.'}),
    'broker-ca-configmap': Flags.string({description: 'Beacon mode: ConfigMap in the operator\'s namespace where the broker publishes the cluster CA (broker run --publish-ca). Pods without their own vault-address get it as their CA; they are refused until it exists.', exclusive: ['default-vault-ca-configmap']}),
    'default-vault-ca-configmap': Flags.string({description: 'ConfigMap (name or name/key, key ca.crt by default) with the PEM of OpenBao\'s CA, for pods without cloudtaser.io/vault-ca-configmap. It must exist in each protected namespace.'}),
    'ebpf-socket-dir': Flags.string({description: `Node directory holding the eBPF agent's socket (ebpf.sock), mounted at ${EBPF_SOCKET_DIR} in Pods with cloudtaser.io/ebpf: "true".`, default: EBPF_SOCKET_DIR}),
    'failure-policy': Flags.string({description: 'What the apiserver does when the webhook cannot answer (see docs/operator.md).', options: ['Fail', 'Ignore'], default: 'Fail'}),
    'timeout-seconds': Flags.integer({description: 'Apiserver timeout for one admission call.', default: 5, min: 1, max: 30}),
    'exclude-namespace': Flags.string({description: 'Namespace never sent to the webhook (repeatable).', multiple: true, default: ['kube-system', 'cloudtaser-system']}),
    'registry-mirror': Flags.string({description: 'Registry host=URL whose images are read from another endpoint, as the nodes\' containerd mirrors them (repeatable; e.g. cloudtaser.lab=http://10.245.0.2:5000).', multiple: true, default: []}),
    diagnostics: Flags.boolean({description: 'On the leader: fill DebugReport resources (`target debug`) and put a NoEnforcingNode event on each protected Pod that requires an enforcing node when the cluster has none. Needs the DebugReport CRD and read access to Pods, events and nodes (the chart grants it).', default: false}),
    'no-register': Flags.boolean({description: 'Serve only; do not write the MutatingWebhookConfiguration.', default: false}),
    'webhook-config': Flags.string({description: 'create: the operator writes the whole MutatingWebhookConfiguration; ca-bundle: it exists (the Helm chart owns it) and only its caBundle is set.', options: ['create', 'ca-bundle'], default: 'create'}),
    'secret-backend': Flags.string({description: 'Where the webhook CA and certificate live: openbao (alias vault), kubernetes (a Secret: fallback, warned), memory (one replica).', options: ['openbao', 'vault', 'kubernetes', 'memory'], default: 'memory', helpGroup: 'TLS MATERIAL'}),
    'operator-namespace': Flags.string({description: 'Namespace of the leader Lease and of the fallback Secret (default: $POD_NAMESPACE, then --service-namespace, then cloudtaser-system).', env: 'POD_NAMESPACE', helpGroup: 'TLS MATERIAL'}),
    identity: Flags.string({description: 'This replica\'s name in the Lease (default: the host name, in a Pod its name, plus a random suffix).', helpGroup: 'TLS MATERIAL'}),
    'lease-name': Flags.string({description: 'The leader Lease, in --operator-namespace.', default: LEADER_LEASE_NAME, env: 'CLOUDTASER_LEADER_ELECTION_LEASE', helpGroup: 'TLS MATERIAL'}),
    'lease-duration': Flags.string({description: 'How long the leader Lease lasts without renewal: a dead leader is replaced after about this long.', default: '15s', helpGroup: 'TLS MATERIAL'}),
    'poll-interval': Flags.string({description: 'How often each replica checks the store for a new version.', default: '30s', helpGroup: 'TLS MATERIAL'}),
    'cert-ttl': Flags.string({description: 'Serving certificate lifetime (renewed with a third left).', default: '720h', helpGroup: 'TLS MATERIAL'}),
    'ca-ttl': Flags.string({description: 'CA lifetime (rotated with a third left, with overlaps).', default: '8760h', helpGroup: 'TLS MATERIAL'}),
    'rotation-overlap': Flags.string({description: 'Wait between CA rotation steps (new CA in caBundle -> signing -> old CA removed): at least twice --poll-interval.', default: '10m', helpGroup: 'TLS MATERIAL'}),
    'shutdown-delay': Flags.string({description: 'On SIGTERM, report not ready and keep serving this long before closing (lets Service endpoints update).', default: '0s'}),
    'bao-auth': Flags.string({description: 'How the operator logs in to OpenBao (openbao backend).', options: ['kubernetes', 'token'], default: 'kubernetes', helpGroup: 'OPENBAO'}),
    'bao-role': Flags.string({description: 'kubernetes auth role (`source configure` creates it).', default: 'cloudtaser-operator', env: 'CLOUDTASER_OPERATOR_BAO_ROLE', helpGroup: 'OPENBAO'}),
    'bao-auth-mount': Flags.string({description: 'kubernetes auth mount, without auth/.', default: 'kubernetes', helpGroup: 'OPENBAO'}),
    'sa-token-file': Flags.string({description: 'ServiceAccount token for kubernetes auth (re-read at every login).', default: SA_TOKEN_FILE, helpGroup: 'OPENBAO'}),
    'kv-mount': Flags.string({description: 'KV version 2 mount holding cloudtaser/system/*.', default: 'secret', helpGroup: 'OPENBAO'}),
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
    const timing = {
      leaseDurationMs: parseDuration(f['lease-duration']),
      pollMs: parseDuration(f['poll-interval']),
      certTtlMs: parseDuration(f['cert-ttl']),
      caTtlMs: parseDuration(f['ca-ttl']),
      overlapMs: parseDuration(f['rotation-overlap']),
    }
    if (timing.overlapMs < 2 * timing.pollMs) throw usage(`--rotation-overlap ${f['rotation-overlap']} must be at least twice --poll-interval ${f['poll-interval']}: every replica must load the new serving certificate before the old CA leaves caBundle`)
    if (2 * timing.overlapMs >= timing.caTtlMs / 3) throw usage(`--ca-ttl ${f['ca-ttl']} is too short for two --rotation-overlap ${f['rotation-overlap']} steps in its last third`)
    if (timing.leaseDurationMs < 1000) throw usage('--lease-duration must be at least 1s')

    const kind = backendKind(f['secret-backend'])
    const namespace = f['operator-namespace'] || f['service-namespace'] || 'cloudtaser-system'
    const kubeConfig = f['no-register'] && kind !== 'kubernetes' && kind !== 'openbao' ? undefined : kubeConfigFromFlags(f)
    let store
    if (kind === 'openbao') {
      const kubernetesAuth = f['bao-auth'] === 'kubernetes'
      // A kubernetes login needs no token up front: resolve the rest of the connection without one.
      const conn = resolveConnection({...f, token: kubernetesAuth ? 'login' : f.token})
      store = makeStore({
        kind,
        bao: {...conn, token: kubernetesAuth ? undefined : conn.token},
        auth: kubernetesAuth ? {method: 'kubernetes', mount: f['bao-auth-mount'], role: f['bao-role'], jwtFile: f['sa-token-file']} : {method: 'token'},
        kvMount: f['kv-mount'],
      })
    } else store = makeStore(kind === 'kubernetes' ? {kind, kubeConfig: kubeConfig!, namespace} : {kind})

    // The operator's own namespace never goes through its webhook (it could not start otherwise).
    const exclude = [...new Set([...f['exclude-namespace'], ...(f['service-namespace'] ? [f['service-namespace']] : [])])]
    const op = launchOperator({
      mutation: {wrapperImage: f['wrapper-image'], wrapperSource: f['wrapper-source'], defaultVaultAddress: f['default-vault-address'], defaultVaultCaConfigMap: f['default-vault-ca-configmap'], ebpfSocketDir: f['ebpf-socket-dir'], s3ProxyImage: f['s3-proxy-image']},
      brokerCa: f['broker-ca-configmap'] ? {namespace, name: f['broker-ca-configmap']} : undefined,
      host: f.host,
      port: f.port,
      reusePort: f['reuse-port'],
      ops: {host: f['ops-host'], port: f['ops-port']},
      url: f.url,
      service: f['service-name'] ? {name: f['service-name'], namespace: f['service-namespace']!, port: f['service-port']} : undefined,
      register: !f['no-register'],
      webhookConfigMode: f['webhook-config'] as 'create' | 'ca-bundle',
      kubeConfig,
      failurePolicy: f['failure-policy'] as 'Fail' | 'Ignore',
      timeoutSeconds: f['timeout-seconds'],
      excludeNamespaces: exclude,
      registry: new RegistryClient({mirrors}),
      store,
      timing,
      // Nothing is shared in memory: one replica, which always leads.
      leaderElection: kind === 'memory' ? undefined : {namespace, name: f['lease-name'], identity: f.identity},
      diagnostics: f.diagnostics,
    })
    let fatal: unknown
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', resolve)
      process.once('SIGINT', resolve)
      op.failed.catch((err) => {
        fatal = err
        resolve()
      })
    })
    await op.close(fatal ? 0 : parseDuration(f['shutdown-delay']))
    if (fatal) throw fatal
    return {url: op.url, identity: op.identity, backend: kind, stats: op.stats}
  }
}
