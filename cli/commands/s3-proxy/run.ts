import {Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {parseS3ProxyArgs, S3_PROXY_FLAGS} from '../../../runtime/s3-proxy/options.js'
import {runS3Proxy} from '../../../runtime/s3-proxy/service.js'

/** --help and the flag list from the one table; bin/run.js runs this command line without oclif. */
const flags = Object.fromEntries(
  Object.entries(S3_PROXY_FLAGS).map(([name, f]) => {
    const common = {description: f.description, required: 'required' in f ? f.required : undefined}
    if (f.type === 'integer') return [name, Flags.integer({...common, default: f.default, min: 0, max: 65535})]
    if (f.type === 'boolean') return [name, Flags.boolean({...common, default: f.default})]
    return [name, Flags.string({...common, default: 'default' in f ? f.default : undefined, options: 'options' in f ? [...f.options] : undefined})]
  }),
)

export default class S3ProxyRun extends BaseCommand<typeof S3ProxyRun> {
  static override summary = 'Run the S3 proxy: client-side envelope encryption in front of an S3 endpoint.'
  static override description = `The workload points its S3 client at http://localhost:8190 with the credentials in CLOUDTASER_S3_ACCESS_KEY_ID / CLOUDTASER_S3_SECRET_ACCESS_KEY. The proxy verifies each request's SigV4 signature with them, encrypts object bodies (AES-256-GCM segments, a data key per object wrapped by OpenBao Transit) and re-signs every request to --upstream with CLOUDTASER_S3_UPSTREAM_ACCESS_KEY_ID / CLOUDTASER_S3_UPSTREAM_SECRET_ACCESS_KEY. OpenBao: BAO_ADDR, BAO_CACERT, and BAO_TOKEN (--bao-auth token) or the Pod's ServiceAccount token (--bao-auth kubernetes). /healthz, /readyz and /metrics on the ops port. Format, metadata and limits: docs/s3-proxy.md.`
  static override examples = [
    'BAO_ADDR=https://bao.eu:8200 <%= config.bin %> s3-proxy run --upstream https://s3.eu-central-1.amazonaws.com --region eu-central-1 --bao-role app --transit-key app-data',
  ]
  static override flags = flags

  async run(): Promise<{url: string; ops: string}> {
    // The same parser and service as the oclif-free path (runtime/s3-proxy/main.ts).
    return runS3Proxy(parseS3ProxyArgs(this.argv), process.env)
  }
}
