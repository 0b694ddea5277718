import {Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {DEFAULT_LIMITS} from '../../../runtime/beacon/limits.js'
import {jsonLogger, type LogLevel} from '../../../runtime/beacon/log.js'
import {startBeaconService, type BeaconSummary} from '../../../runtime/beacon/service.js'

export default class BeaconServe extends BaseCommand<typeof BeaconServe> {
  static override summary = 'Run the beacon relay that pairs bridges and brokers by info hash.'
  static override description = `Both sides dial out to the beacon (TCP 443), send a hello with their role and a 32-byte info hash, and the beacon splices the first bridge and broker with the same hash. It relays bytes it cannot read (the two ends run mutual TLS inside), keeps no state but live connections and writes nothing to disk. Logs are JSON lines on stderr. /healthz, /readyz and /metrics are served on the ops port. SIGTERM stops accepting and lets pairs drain until --drain-timeout. Wire protocol: docs/beacon-protocol.md.`
  static override examples = [
    '<%= config.bin %> beacon serve --cert /etc/beacon/tls.crt --key /etc/beacon/tls.key',
    '<%= config.bin %> beacon serve --plain --port 8443 --ops-port 9465',
  ]
  static override flags = {
    host: Flags.string({description: 'Listen address.', default: '::'}),
    port: Flags.integer({description: 'Listen port (0: any free port).', default: 443, min: 0, max: 65535}),
    cert: Flags.string({description: 'PEM certificate chain; reloaded when the file changes.', exclusive: ['plain']}),
    key: Flags.string({description: 'PEM private key; reloaded when the file changes.', exclusive: ['plain']}),
    plain: Flags.boolean({description: 'Plain TCP, for running behind a TLS-terminating load balancer.', default: false}),
    'cert-reload-interval': Flags.integer({description: 'How often (ms) to check the certificate files for changes.', default: 5_000, min: 100}),
    'ops-host': Flags.string({description: 'Listen address for /healthz, /readyz and /metrics.', default: '0.0.0.0'}),
    'ops-port': Flags.integer({description: 'Port for /healthz, /readyz and /metrics.', default: 9465, min: 0, max: 65535}),
    'hello-timeout': Flags.integer({description: 'ms from accept to a complete hello, TLS handshake included.', default: DEFAULT_LIMITS.helloTimeoutMs}),
    'match-timeout': Flags.integer({description: 'ms a client may wait for a peer.', default: DEFAULT_LIMITS.matchTimeoutMs}),
    'max-waiting-per-hash': Flags.integer({description: 'Waiting connections per info hash.', default: DEFAULT_LIMITS.maxWaitingPerHash}),
    'max-waiting': Flags.integer({description: 'Waiting connections in total.', default: DEFAULT_LIMITS.maxWaiting}),
    'max-per-source': Flags.integer({description: 'Open connections per source address (0: no limit, e.g. behind a load balancer that hides client addresses).', default: DEFAULT_LIMITS.maxConnectionsPerSource}),
    'max-hello-size': Flags.integer({description: 'Largest accepted hello in bytes (at least 40).', default: DEFAULT_LIMITS.maxHelloBytes, min: 40}),
    'drain-timeout': Flags.integer({description: 'ms pairs may keep relaying after SIGTERM.', default: DEFAULT_LIMITS.drainTimeoutMs}),
    'log-level': Flags.string({description: 'Least severe log level written.', options: ['debug', 'info', 'warn', 'error'], default: 'info'}),
  }

  async run(): Promise<BeaconSummary> {
    const f = this.flags
    const running = await startBeaconService({
      host: f.host,
      port: f.port,
      plain: f.plain,
      tls: f.cert && f.key ? {certFile: f.cert, keyFile: f.key, reloadIntervalMs: f['cert-reload-interval']} : undefined,
      opsHost: f['ops-host'],
      opsPort: f['ops-port'],
      logger: jsonLogger(process.stderr, f['log-level'] as LogLevel),
      limits: {
        helloTimeoutMs: f['hello-timeout'],
        matchTimeoutMs: f['match-timeout'],
        maxWaitingPerHash: f['max-waiting-per-hash'],
        maxWaiting: f['max-waiting'],
        maxConnectionsPerSource: f['max-per-source'],
        maxHelloBytes: f['max-hello-size'],
        drainTimeoutMs: f['drain-timeout'],
      },
    })
    const summary = await running.stopped
    if (!this.jsonEnabled()) this.log(`beacon stopped: ${summary.pairsTotal} pairs, ${summary.bytesRelayed} bytes relayed`)
    return summary
  }
}
