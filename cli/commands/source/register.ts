import {Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {clusterFlags, registerOpenBaoFlags} from '../../flags/cluster.js'
import {openBaoClientFromFlags} from '../../flags/openbao.js'
import {CloudtaserError, ExitCode} from '../../../lib/errors.js'
import {renderActions, summaryLine} from '../../../lib/openbao/actions.js'
import {resolveClusterIdentity} from '../../../lib/openbao/cluster-identity.js'
import {registerCluster, type RegisterResult} from '../../../lib/openbao/register.js'

/** HOST:PORT with an explicit port: a reverse-connect endpoint has no default port to guess. */
function reverseEndpoint(v: string): string {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(v)
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535)
    throw new CloudtaserError('USAGE', `--reverse-endpoint "${v}" is not HOST:PORT`, {exitCode: ExitCode.USAGE, hint: 'The broker\'s external address as the bridge reaches it, e.g. 203.0.113.7:30443 (NodePort) or broker.eu-cluster.example.com:8443 (LoadBalancer); "none" removes it.'})
  return v
}

export default class SourceRegister extends BaseCommand<typeof SourceRegister> {
  static override summary = 'Register a cluster with OpenBao: its own namespace, a per-cluster CA, the bridge policy and the registration record.'
  static override description = `The OpenBao side of the trust bootstrap (docs/register.md). Creates, per cluster: the OpenBao namespace cloudtaser/<first 8 hex of the fingerprint> (or, with --no-namespace, a KV mount cloudtaser-<id>), a KV v2 mount for cloudtaser's records in it, a CA made in memory whose private key is written only to OpenBao (never printed, never in a file), the policy cloudtaser-bridge-<id> that alone reads it, and the record clusters/<fingerprint>/registered with the two beacon info hashes. No private key of the cluster side is made here: the operator makes its own and sends a certificate request. Idempotent: a second run reports everything unchanged; an existing registration's CA is replaced only with --rotate-ca.`
  static override examples = [
    '<%= config.bin %> source register --fingerprint 0ad50c05-1153-4508-9237-4cb2912e2c23 --dry-run',
    'BAO_ADDR=https://openbao.eu.example:8200 <%= config.bin %> source register --plan plan.yaml',
    '<%= config.bin %> source register --fingerprint 0ad50c05-1153-4508-9237-4cb2912e2c23 --no-namespace --json',
  ]
  static override flags = {
    ...registerOpenBaoFlags,
    ...clusterFlags,
    'dry-run': Flags.boolean({description: 'Show what would be created; write nothing and make no CA.'}),
    'rotate-ca': Flags.boolean({description: 'Replace the CA of an existing registration and reset it to not initialized: the cluster must bootstrap again.'}),
    'reverse-endpoint': Flags.string({description: 'Reverse-connect: HOST:PORT of the broker\'s external endpoint (LoadBalancer or NodePort of `target install --mode reverse`); the bridge dials it instead of the beacon. "none" removes it. Without the flag an existing endpoint is kept.'}),
  }

  async run(): Promise<RegisterResult> {
    const f = this.flags
    const cluster = await resolveClusterIdentity({fingerprint: f.fingerprint, plan: f.plan})
    const endpoint = f['reverse-endpoint'] === undefined ? undefined : f['reverse-endpoint'] === 'none' ? null : reverseEndpoint(f['reverse-endpoint'])
    const client = openBaoClientFromFlags(f)
    try {
      const r = await registerCluster(client, cluster, {dryRun: f['dry-run'], rotateCa: f['rotate-ca'], namespaces: !f['no-namespace'], reverseEndpoint: endpoint})
      const where = r.namespace ? `namespace ${r.namespace}/, mount ${r.mount}/` : `mount ${r.mount}/`
      this.log(`Cluster ${r.fingerprint}${r.clusterName ? ` (${r.clusterName}, from ${f.plan})` : ''}: ${where}${r.dryRun ? ' (dry run: nothing written)' : ''}`)
      for (const line of renderActions(r.actions, r.dryRun || r.refused)) this.log(`  ${line}`)
      this.log(summaryLine(r.summary, r.dryRun || r.refused))
      if (r.refused) {
        this.logToStderr('Conflicts: nothing was written.')
        this.setExitCode(ExitCode.CONFLICT)
        return r
      }
      this.log('')
      this.log(`Init info hash:        ${r.infoHashes.init}`)
      this.log(`Operational info hash: ${r.infoHashes.operational ?? '(made with the CA on the real run)'}`)
      if (r.registeredAt) this.log(`Registered:            ${r.registeredAt} by ${r.registeredBy}`)
      if (r.reverseEndpoint) this.log(`Reverse-connect:       the bridge dials ${r.reverseEndpoint}`)
      if (!r.dryRun && r.reverseEndpoint) {
        this.log('')
        this.log('Next, on the cluster side: install with the pin; the bridge dials the broker\'s endpoint:')
        this.log(`  cloudtaser target install --mode reverse --ca-sha256 ${r.infoHashes.operational ?? '<operationalInfoHash>'}`)
      } else if (!r.dryRun) {
        this.log('')
        this.log('Next, on the cluster side: install the operator with the beacon address; it bootstraps through the init room:')
        this.log('  helm install cloudtaser cloudtaser/cloudtaser --set operator.broker.beacon.address=beacon.example.eu:443')
      }
      return r
    } finally {
      await client.close()
    }
  }
}
