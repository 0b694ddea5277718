import {Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {beaconDialFlags, beaconDialFromFlags} from '../../flags/beacon.js'
import {openBaoFlags} from '../../flags/openbao.js'
import {OpenBaoClient} from '../../../lib/openbao/client.js'
import {resolveConnection} from '../../../lib/openbao/config.js'
import {HttpTransport} from '../../../lib/openbao/http-transport.js'
import {jsonLogger} from '../../../runtime/beacon/log.js'
import {startBridge, type Bridge} from '../../../runtime/bridge/bridge.js'
import {startOpsServer} from '../../../runtime/ops/http.js'

export interface BridgeRunResult {
  clusters: Record<string, 'init' | 'operational'>
  stats: Bridge['stats']
}

export default class BridgeRun extends BaseCommand<typeof BridgeRun> {
  static override summary = 'Run the bridge beside OpenBao: bootstraps registered clusters and relays their wrappers\' requests through the beacon.'
  static override description = `Dials the beacon outbound (no inbound port) for every cluster registered with \`source register\` (a cluster registered with --reverse-endpoint is dialled at that endpoint, the broker's, instead): the init room until the cluster's broker has bootstrapped (its CSR signed once, marked in OpenBao), then the operational room, where the broker's mTLS tunnel carries wrapper requests to OpenBao. Logins are forwarded only with a ServiceAccount token the cluster's keys signed. Uses its own token (BAO_TOKEN) with the policy in docs/bridge.md, never a wrapper's. Logs are JSON lines on stderr. Stops on SIGTERM/SIGINT.`
  static override examples = [
    'BAO_ADDR=https://openbao:8200 BAO_TOKEN=... <%= config.bin %> bridge run --beacon beacon.example.com:443',
    'BAO_ADDR=https://openbao:8200 BAO_TOKEN=... <%= config.bin %> bridge run   # reverse-connect clusters only: each is dialled at the endpoint its registration names',
  ]
  static override flags = {
    ...openBaoFlags,
    ...beaconDialFlags,
    'refresh-interval': Flags.integer({description: 'Seconds between looks at OpenBao for new, initialized and deregistered clusters.', default: 15, min: 1}),
    'ops-host': Flags.string({description: 'Listen address for /healthz, /readyz (OpenBao\'s registrations read), /status and /metrics.', default: '0.0.0.0'}),
    'ops-port': Flags.integer({description: 'Port for /healthz, /readyz, /status and /metrics (0: any free port).', default: 9467, min: 0, max: 65535}),
    'log-level': Flags.string({description: 'Least severe log level written.', options: ['debug', 'info', 'warn', 'error'], default: 'info'}),
  }

  async run(): Promise<BridgeRunResult> {
    const f = this.flags
    const settings = resolveConnection(f)
    const client = new OpenBaoClient(settings)
    const transport = new HttpTransport({ca: settings.ca})
    const log = jsonLogger(process.stderr, f['log-level'] as 'info', 'bridge')
    const bridge = await startBridge({client, baoAddr: settings.addr, transport, beacon: beaconDialFromFlags(f), logger: log, refreshMs: f['refresh-interval'] * 1000})
    const ops = await startOpsServer(f['ops-host'], f['ops-port'], {ready: () => bridge.ready(), status: () => ({clusters: bridge.clusters(), stats: bridge.stats}), metrics: () => bridge.metrics()})
    log('info', 'ops_listening', {host: f['ops-host'], port: ops.port})
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', resolve)
      process.once('SIGINT', resolve)
    })
    const result = {clusters: bridge.clusters(), stats: bridge.stats}
    ops.server.close()
    await bridge.stop()
    await Promise.all([client.close(), transport.close()])
    return result
  }
}
