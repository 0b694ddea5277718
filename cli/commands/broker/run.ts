import {Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {beaconDialFlags, beaconDialFromFlags} from '../../flags/beacon.js'
import {kubeFlags, kubeTargetFromFlags} from '../../flags/kube.js'
import {CloudtaserError, ExitCode} from '../../../lib/errors.js'
import {readFingerprint} from '../../../lib/kube/fingerprint.js'
import {kubeHttp} from '../../../lib/kube/http.js'
import {jsonLogger} from '../../../runtime/beacon/log.js'
import {startBroker, type Broker} from '../../../runtime/broker/broker.js'

export interface BrokerRunResult {
  url?: string
  state: ReturnType<Broker['state']>
  stats: Broker['stats']
}

function listenAddress(v: string): {host: string; port: number} {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9A-Za-z.-]*)):(\d{1,5})$/.exec(v)
  if (!m || Number(m[3]) > 65535) throw new CloudtaserError('USAGE', `--reverse-listen "${v}" is not HOST:PORT`, {exitCode: ExitCode.USAGE, hint: 'e.g. 0.0.0.0:8443'})
  return {host: m[1] ?? (m[2] || '0.0.0.0'), port: Number(m[3])}
}

export default class BrokerRun extends BaseCommand<typeof BrokerRun> {
  static override summary = 'Run the broker in the cluster: wrappers reach OpenBao through it, the beacon and the bridge.'
  static override description = `Reads the cluster fingerprint (kube-system UID), makes its key in memory and has the bridge sign a CSR through the beacon's init room (once per registration), then keeps an mTLS tunnel to the bridge in the operational room. Wrappers use https://<its Service>:<port> as their OpenBao address and the cluster CA as their CA. /healthz and /readyz (ops port) depend on nothing remote; while the tunnel is down wrappers get 503 BROKER_TUNNEL_DOWN. See docs/bridge.md.`
  static override examples = [
    '<%= config.bin %> broker run --beacon beacon.example.com:443 --ca-sha256 <operationalInfoHash from source register> --dns-name cloudtaser-broker.cloudtaser-system.svc',
    '<%= config.bin %> broker run --reverse-listen 0.0.0.0:8443 --ca-sha256 <operationalInfoHash> --dns-name cloudtaser-broker.cloudtaser-system.svc',
  ]
  static override flags = {
    ...kubeFlags,
    ...beaconDialFlags,
    'ca-sha256': Flags.string({description: 'Pin: hex SHA-256 of the cluster CA (operationalInfoHash printed by `source register`). Without it the hash is logged for comparison.'}),
    'service-account': Flags.string({description: 'NAMESPACE/NAME of the broker\'s own ServiceAccount. With --ca-sha256, a restarted broker renews its certificate with a token of it (TokenRequest, audience bound to this cluster); without it a restart needs `source register --rotate-ca`.'}),
    'publish-ca': Flags.string({description: 'NAMESPACE/NAME of a ConfigMap to write the cluster CA certificate to (key ca.crt) after bootstrap; the operator\'s --broker-ca-configmap reads it and gives it to wrappers.'}),
    'reverse-listen': Flags.string({description: 'Reverse-connect instead of a beacon: HOST:PORT where the bridge dials in (behind a LoadBalancer or NodePort; register it with `source register --reverse-endpoint`). Needs --ca-sha256.', exclusive: ['beacon'], helpGroup: 'BEACON'}),
    'token-review': Flags.boolean({description: 'Check each wrapper login with a TokenReview before it enters the tunnel: the apiserver also refuses tokens of deleted Pods and ServiceAccounts, which a signature check cannot see (needs create on tokenreviews).', default: true, allowNo: true}),
    host: Flags.string({description: 'Listen address for wrappers.', default: '0.0.0.0'}),
    port: Flags.integer({description: 'HTTPS port for wrappers (0: any free port).', default: 8200, min: 0, max: 65535}),
    'ops-host': Flags.string({description: 'Listen address for /healthz, /readyz, /status and /metrics.', default: '0.0.0.0'}),
    'ops-port': Flags.integer({description: 'Port for /healthz, /readyz, /status and /metrics.', default: 9466, min: 0, max: 65535}),
    'dns-name': Flags.string({description: 'Name wrappers use for the broker, put in its certificate (*.svc or *.svc.cluster.local; repeatable).', multiple: true, default: []}),
    'ip-address': Flags.string({description: 'Address wrappers use for the broker, put in its certificate (repeatable).', multiple: true, default: []}),
    'log-level': Flags.string({description: 'Least severe log level written.', options: ['debug', 'info', 'warn', 'error'], default: 'info'}),
  }

  async run(): Promise<BrokerRunResult> {
    const f = this.flags
    if (f['ca-sha256'] !== undefined && !/^[0-9a-fA-F]{64}$/.test(f['ca-sha256'])) throw new CloudtaserError('BROKER_BAD_CA_PIN', `--ca-sha256 "${f['ca-sha256']}" is not a hex SHA-256 (64 hex digits)`, {exitCode: ExitCode.USAGE})
    const sa = f['service-account']?.split('/')
    if (sa && (sa.length !== 2 || !sa[0] || !sa[1])) throw new CloudtaserError('BROKER_BAD_SERVICE_ACCOUNT', `--service-account "${f['service-account']}" is not NAMESPACE/NAME`, {exitCode: ExitCode.USAGE})
    if (sa && !f['ca-sha256']) throw new CloudtaserError('BROKER_BAD_SERVICE_ACCOUNT', '--service-account needs --ca-sha256: the renewal token is sent only to a bridge whose CA matches the pin', {exitCode: ExitCode.USAGE})
    const pub = f['publish-ca']?.split('/')
    if (pub && (pub.length !== 2 || !pub[0] || !pub[1])) throw new CloudtaserError('USAGE', `--publish-ca "${f['publish-ca']}" is not NAMESPACE/NAME`, {exitCode: ExitCode.USAGE})
    if (!f.beacon === !f['reverse-listen']) throw new CloudtaserError('USAGE', 'give --beacon (the relay both sides dial) or --reverse-listen (the bridge dials the broker)', {exitCode: ExitCode.USAGE})
    if (f['reverse-listen'] && !f['ca-sha256']) throw new CloudtaserError('BROKER_BAD_CA_PIN', '--reverse-listen needs --ca-sha256: anyone can dial the endpoint, and only the pin tells the registered bridge from them', {exitCode: ExitCode.USAGE})
    const reverse = f['reverse-listen'] ? listenAddress(f['reverse-listen']) : undefined
    const kube = await kubeHttp(kubeTargetFromFlags(f))
    const fingerprint = await readFingerprint(kube)
    const broker = await startBroker({fingerprint, beacon: beaconDialFromFlags(f), reverse, kube, reviewTokens: f['token-review'], caPin: f['ca-sha256'], serviceAccount: sa ? {namespace: sa[0]!, name: sa[1]!} : undefined, publishCa: pub ? {namespace: pub[0]!, name: pub[1]!} : undefined, host: f.host, port: f.port, opsHost: f['ops-host'], opsPort: f['ops-port'], dnsNames: f['dns-name'], ipAddresses: f['ip-address'], logger: jsonLogger(process.stderr, f['log-level'] as 'info', 'broker')})
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', resolve)
      process.once('SIGINT', resolve)
    })
    const result = {url: broker.url(), state: broker.state(), stats: broker.stats}
    await broker.stop()
    return result
  }
}
