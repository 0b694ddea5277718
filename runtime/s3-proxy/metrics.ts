// Prometheus text exposition for the S3 proxy, without a dependency (as the beacon's).
export class ProxyMetrics {
  private readonly requests = new Map<string, number>()
  private readonly transitCalls = new Map<string, number>()
  bytesEncrypted = 0
  bytesDecrypted = 0
  integrityFailures = 0
  legacyReads = 0

  request(operation: string, status: number): void {
    const k = `{operation="${operation}",status="${status}"}`
    this.requests.set(k, (this.requests.get(k) ?? 0) + 1)
  }

  transit(op: string, result: 'ok' | 'error'): void {
    const k = `{op="${op}",result="${result}"}`
    this.transitCalls.set(k, (this.transitCalls.get(k) ?? 0) + 1)
  }

  render(): string {
    const lines: string[] = []
    const metric = (name: string, type: string, help: string, samples: Iterable<[string, number]>) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
      for (const [labels, v] of samples) lines.push(`${name}${labels} ${v}`)
    }
    metric('cloudtaser_s3_proxy_requests_total', 'counter', 'Client requests answered, by S3 operation and HTTP status.', this.requests)
    metric('cloudtaser_s3_proxy_transit_calls_total', 'counter', 'OpenBao Transit calls, by operation and result.', this.transitCalls)
    metric('cloudtaser_s3_proxy_encrypted_bytes_total', 'counter', 'Plaintext bytes encrypted on upload.', [['', this.bytesEncrypted]])
    metric('cloudtaser_s3_proxy_decrypted_bytes_total', 'counter', 'Plaintext bytes returned after decryption.', [['', this.bytesDecrypted]])
    metric('cloudtaser_s3_proxy_integrity_failures_total', 'counter', 'Stored ciphertext that failed authentication.', [['', this.integrityFailures]])
    metric('cloudtaser_s3_proxy_legacy_reads_total', 'counter', 'Unencrypted (pre-proxy) objects read as they are.', [['', this.legacyReads]])
    return `${lines.join('\n')}\n`
  }
}
