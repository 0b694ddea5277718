import {Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {resolveConnection} from '../../../lib/openbao/config.js'
import {credentialsFromEnv, SA_TOKEN_FILE, startS3ProxyService} from '../../../runtime/s3-proxy/service.js'

export default class S3ProxyRun extends BaseCommand<typeof S3ProxyRun> {
  static override summary = 'Run the S3 proxy: client-side envelope encryption in front of an S3 endpoint.'
  static override description = `The workload points its S3 client at http://localhost:8190 with the credentials in CLOUDTASER_S3_ACCESS_KEY_ID / CLOUDTASER_S3_SECRET_ACCESS_KEY. The proxy verifies each request's SigV4 signature with them, encrypts object bodies (AES-256-GCM segments, a data key per object wrapped by OpenBao Transit) and re-signs every request to --upstream with CLOUDTASER_S3_UPSTREAM_ACCESS_KEY_ID / CLOUDTASER_S3_UPSTREAM_SECRET_ACCESS_KEY. OpenBao: BAO_ADDR, BAO_CACERT, and BAO_TOKEN (--bao-auth token) or the Pod's ServiceAccount token (--bao-auth kubernetes). /healthz, /readyz and /metrics on the ops port. Format, metadata and limits: docs/s3-proxy.md.`
  static override examples = [
    'BAO_ADDR=https://bao.eu:8200 <%= config.bin %> s3-proxy run --upstream https://s3.eu-central-1.amazonaws.com --region eu-central-1 --bao-role app --transit-key app-data',
  ]
  static override flags = {
    host: Flags.string({description: 'Listen address (keep it on loopback: the Pod\'s containers share it).', default: '127.0.0.1'}),
    port: Flags.integer({description: 'S3 port (0: any free port).', default: 8190, min: 0, max: 65535}),
    'ops-host': Flags.string({description: 'Listen address for /healthz, /readyz and /metrics.', default: '0.0.0.0'}),
    'ops-port': Flags.integer({description: 'Port for /healthz, /readyz and /metrics.', default: 8191, min: 0, max: 65535}),
    upstream: Flags.string({description: 'The S3 endpoint objects are stored at (path-style requests).', required: true}),
    region: Flags.string({description: 'Region the upstream requests are signed for.', default: 'us-east-1'}),
    'upstream-payload': Flags.string({description: 'How upstream bodies are signed: aws-chunked with chunk signatures, or UNSIGNED-PAYLOAD (HTTPS upstreams only).', options: ['streaming', 'unsigned'], default: 'streaming'}),
    'transit-mount': Flags.string({description: 'Mount of the Transit secrets engine.', default: 'transit'}),
    'transit-key': Flags.string({description: 'Transit key that wraps the data keys.', required: true}),
    'bao-auth': Flags.string({description: 'How the proxy logs in to OpenBao.', options: ['kubernetes', 'token'], default: 'kubernetes'}),
    'bao-role': Flags.string({description: 'kubernetes auth role.'}),
    'bao-auth-mount': Flags.string({description: 'kubernetes auth mount.', default: 'kubernetes'}),
    'sa-token-file': Flags.string({description: 'ServiceAccount token for kubernetes auth.', default: SA_TOKEN_FILE}),
    'require-encrypted': Flags.boolean({description: 'Refuse to read objects stored without encryption (written before the proxy).', default: false}),
    'no-pad': Flags.boolean({description: 'Do not pad the last segment to 64 KiB (stores less, reveals plaintext sizes exactly).', default: false}),
  }

  async run(): Promise<{url: string; ops: string}> {
    const f = this.flags
    const env = process.env
    const kubernetes = f['bao-auth'] === 'kubernetes'
    if (kubernetes && !f['bao-role']) this.error('--bao-role is required with --bao-auth kubernetes', {exit: 2})
    // A kubernetes login needs no token up front: resolve the rest of the connection without one.
    const conn = resolveConnection({}, kubernetes ? {...env, BAO_TOKEN: 'login'} : env)
    const running = await startS3ProxyService({
      host: f.host,
      port: f.port,
      opsHost: f['ops-host'],
      opsPort: f['ops-port'],
      client: credentialsFromEnv(env, 'CLOUDTASER_S3'),
      upstream: {endpoint: new URL(f.upstream), region: f.region, credentials: credentialsFromEnv(env, 'CLOUDTASER_S3_UPSTREAM'), payload: f['upstream-payload'] as 'streaming' | 'unsigned'},
      bao: {...conn, token: kubernetes ? undefined : conn.token},
      auth: kubernetes ? {method: 'kubernetes', mount: f['bao-auth-mount'], role: f['bao-role']!, jwtFile: f['sa-token-file']} : {method: 'token'},
      transit: {mount: f['transit-mount'], key: f['transit-key']},
      pad: !f['no-pad'],
      requireEncrypted: f['require-encrypted'],
      log: (e) => process.stderr.write(`${JSON.stringify({time: new Date().toISOString(), ...e})}\n`),
    })
    process.stderr.write(`${JSON.stringify({level: 'info', msg: 'listening', url: running.proxy.url, ops: running.opsUrl})}\n`)
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', resolve)
      process.once('SIGINT', resolve)
    })
    await running.stop()
    return {url: running.proxy.url, ops: running.opsUrl}
  }
}
