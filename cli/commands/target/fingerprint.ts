import {BaseCommand} from '../../base-command.js'
import {kubeFlags, kubeTargetFromFlags} from '../../flags/kube.js'
import {clusterFingerprint} from '../../../lib/kube/fingerprint.js'

export interface FingerprintResult {
  clusterId: string
  server: string
  next: string
}

export default class TargetFingerprint extends BaseCommand<typeof TargetFingerprint> {
  static override summary = 'Print this cluster\'s identity (the kube-system namespace UID) and the command to register it with OpenBao.'
  static override examples = ['<%= config.bin %> target fingerprint', '<%= config.bin %> target fingerprint --context prod-eu-1 --json']
  static override flags = {...kubeFlags}

  async run(): Promise<FingerprintResult> {
    const {uid, server} = await clusterFingerprint(kubeTargetFromFlags(this.flags))
    // The token from the environment, not a flag: flags show in ps. --openbao-addr/--token (and the
    // original product's --secretstore-address/--secretstore-token) work too.
    const next = `cloudtaser source register --fingerprint ${uid}`
    this.log('cloudtaser cluster fingerprint')
    this.log(`API server: ${server}`)
    this.log(`Cluster ID: ${uid}`)
    this.log('')
    this.log('On the OpenBao side, with BAO_ADDR and BAO_TOKEN set, run next (add --dry-run to preview):')
    this.log(`  ${next}`)
    return {clusterId: uid, server, next}
  }
}
