import {Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {beaconDialFlags, beaconDialFromFlags} from '../../flags/beacon.js'
import {openBaoFlags} from '../../flags/openbao.js'
import {OpenBaoClient} from '../../../lib/openbao/client.js'
import {resolveConnection} from '../../../lib/openbao/config.js'
import {UndiciTransport} from '../../../lib/openbao/undici-transport.js'
import {jsonLogger} from '../../../runtime/beacon/log.js'
import {startBridge, type Bridge} from '../../../runtime/bridge/bridge.js'

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
    'log-level': Flags.string({description: 'Least severe log level written.', options: ['debug', 'info', 'warn', 'error'], default: 'info'}),
  }

  async run(): Promise<BridgeRunResult> {
    const f = this.flags
    const settings = resolveConnection(f)
    const client = new OpenBaoClient(settings)
    const transport = new UndiciTransport({ca: settings.ca, timeoutMs: settings.timeoutMs})
    const bridge = await startBridge({client, baoAddr: settings.addr, transport, beacon: beaconDialFromFlags(f), logger: jsonLogger(process.stderr, f['log-level'] as 'info', 'bridge'), refreshMs: f['refresh-interval'] * 1000})
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', resolve)
      process.once('SIGINT', resolve)
    })
    const result = {clusters: bridge.clusters(), stats: bridge.stats}
    await bridge.stop()
    await Promise.all([client.close(), transport.close()])
    return result
  }
}
