// Prometheus text exposition without a dependency: a handful of counters and gauges.
export const REJECTION_REASONS = [
  'source_limit',
  'tls_handshake',
  'bad_magic',
  'unsupported_version',
  'bad_role',
  'hello_too_large',
  'hello_timeout',
  'early_data',
  'match_timeout',
  'hash_full',
  'beacon_full',
  'shutting_down',
] as const
export type RejectionReason = (typeof REJECTION_REASONS)[number]

export class BeaconMetrics {
  connectionsOpen = 0
  waiting = 0
  pairsActive = 0
  pairsTotal = 0
  bytesBridgeToBroker = 0
  bytesBrokerToBridge = 0
  certReloads = {ok: 0, error: 0}
  readonly rejections: Record<RejectionReason, number> = Object.fromEntries(REJECTION_REASONS.map((r) => [r, 0])) as Record<
    RejectionReason,
    number
  >

  render(): string {
    const lines: string[] = []
    const metric = (name: string, type: string, help: string, samples: [string, number][]): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
      for (const [labels, v] of samples) lines.push(`${name}${labels} ${v}`)
    }
    metric('cloudtaser_beacon_connections_open', 'gauge', 'Accepted connections not yet closed, any state.', [['', this.connectionsOpen]])
    metric('cloudtaser_beacon_waiting', 'gauge', 'Connections that sent a hello and wait for a peer.', [['', this.waiting]])
    metric('cloudtaser_beacon_pairs_active', 'gauge', 'Pairs currently relaying.', [['', this.pairsActive]])
    metric('cloudtaser_beacon_pairs_total', 'counter', 'Pairs made since start.', [['', this.pairsTotal]])
    metric('cloudtaser_beacon_relayed_bytes_total', 'counter', 'Bytes relayed, by direction.', [
      ['{direction="bridge_to_broker"}', this.bytesBridgeToBroker],
      ['{direction="broker_to_bridge"}', this.bytesBrokerToBridge],
    ])
    metric(
      'cloudtaser_beacon_rejections_total',
      'counter',
      'Connections refused or dropped, by reason.',
      REJECTION_REASONS.map((r) => [`{reason="${r}"}`, this.rejections[r]]),
    )
    metric('cloudtaser_beacon_cert_reloads_total', 'counter', 'Certificate reloads, by result.', [
      ['{result="ok"}', this.certReloads.ok],
      ['{result="error"}', this.certReloads.error],
    ])
    return `${lines.join('\n')}\n`
  }
}
