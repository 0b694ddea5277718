import {Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {OpenBaoClient} from '../../../lib/openbao/client.js'
import {resolveConnection} from '../../../lib/openbao/config.js'
import {rewrapBucket, type RewrapResult} from '../../../runtime/s3-proxy/rewrap.js'
import {credentialsFromEnv} from '../../../runtime/s3-proxy/service.js'
import {closeUpstream} from '../../../runtime/s3-proxy/upstream.js'

export default class S3ProxyRewrap extends BaseCommand<typeof S3ProxyRewrap> {
  static override summary = 'Re-wrap every object\'s data key to the latest Transit key version, without touching object bodies.'
  static override description = `After \`bao write -f transit/keys/<key>/rotate\`: for each encrypted object under --prefix, OpenBao re-wraps the data key (transit/rewrap; the key never leaves OpenBao) and the object's metadata is rewritten by CopyObject onto itself. Bodies are never downloaded or uploaded. Objects already at the latest version are skipped, so running it again resumes an interrupted run. Talks to --upstream directly with CLOUDTASER_S3_UPSTREAM_ACCESS_KEY_ID / CLOUDTASER_S3_UPSTREAM_SECRET_ACCESS_KEY and to OpenBao with BAO_ADDR / BAO_TOKEN.`
  static override examples = ['<%= config.bin %> s3-proxy rewrap --upstream https://s3.eu-central-1.amazonaws.com --region eu-central-1 --bucket invoices --prefix 2026/']
  static override flags = {
    upstream: Flags.string({description: 'The S3 endpoint the objects are stored at.', required: true}),
    region: Flags.string({description: 'Region requests are signed for.', default: 'us-east-1'}),
    bucket: Flags.string({description: 'Bucket to re-wrap.', required: true}),
    prefix: Flags.string({description: 'Only keys starting with this.', default: ''}),
    'start-after': Flags.string({description: 'Resume after this key (the lastKey of an interrupted run).'}),
    'transit-mount': Flags.string({description: 'Mount of the Transit secrets engine.', default: 'transit'}),
    'dry-run': Flags.boolean({description: 'Count what would be re-wrapped; change nothing.', default: false}),
  }

  async run(): Promise<RewrapResult> {
    const f = this.flags
    const bao = new OpenBaoClient(resolveConnection())
    const upstream = {endpoint: new URL(f.upstream), region: f.region, credentials: credentialsFromEnv(process.env, 'CLOUDTASER_S3_UPSTREAM'), payload: 'unsigned' as const}
    try {
      const r = await rewrapBucket(upstream, bao, {bucket: f.bucket, prefix: f.prefix, startAfter: f['start-after'], transitMount: f['transit-mount'], dryRun: f['dry-run']})
      if (!this.jsonEnabled()) {
        this.log(`${f['dry-run'] ? 'would re-wrap' : 're-wrapped'} ${r.rewrapped} of ${r.scanned} objects in ${r.bucket}/${r.prefix} (${r.current} already current, ${r.unencrypted} unencrypted, ${r.changed} changed meanwhile)`)
        if (r.changed > 0) this.log('objects changed while running: run the command again')
      }
      return r
    } finally {
      closeUpstream(upstream)
      await bao.close()
    }
  }
}
