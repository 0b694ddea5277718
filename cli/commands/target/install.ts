import {Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {kubeFlags} from '../../flags/kube.js'
import {installArgs, runHelm, type ConnectivityMode} from '../../../lib/install/helm.js'

export interface InstallResult {
  release: string
  namespace: string
  mode: ConnectivityMode
  dryRun: boolean
  helm: string[]
  manifests?: string
}

export default class TargetInstall extends BaseCommand<typeof TargetInstall> {
  static override summary = 'Install or upgrade cloudtaser in the cluster with Helm (charts/cloudtaser): the operator, its webhook, the eBPF agent on every node.'
  static override description = `Runs \`helm upgrade --install\` with the values you chose; the same chart works with helm, Argo CD or Flux directly. --dry-run prints the manifests instead (helm template), changing nothing. Every value is documented in charts/cloudtaser/README.md. Upgrading in place restarts no protected Pod: only the operator and the agent roll.`
  static override examples = [
    '<%= config.bin %> target install --mode direct --vault-address https://openbao.example.eu:8200 -f values.yaml',
    '<%= config.bin %> target install --dry-run --set operator.replicas=3',
    '<%= config.bin %> target install --mode beacon --beacon beacon.example.eu:443 --ca-sha256 <operationalInfoHash from source register>',
    '<%= config.bin %> target install --mode reverse --ca-sha256 <operationalInfoHash> --set operator.broker.reverse.service.type=NodePort',
    '<%= config.bin %> target install --set operator.registryMirrors[0]=cloudtaser.lab=http://10.245.0.2:5000 --wait',
  ]
  static override flags = {
    ...kubeFlags,
    namespace: Flags.string({char: 'n', description: 'Namespace of the release (created if missing).', default: 'cloudtaser-system'}),
    release: Flags.string({description: 'Helm release name.', default: 'cloudtaser'}),
    'vault-address': Flags.string({description: 'OpenBao URL the operator uses, as seen from inside the cluster (default: $BAO_ADDR, then $VAULT_ADDR); the chart refuses to render without one unless operator.secretBackend=kubernetes.'}),
    mode: Flags.string({description: 'How wrappers reach OpenBao: directly, through the beacon relay (bridge beside OpenBao), or by the bridge dialing in.', options: ['direct', 'beacon', 'reverse'], default: 'direct'}),
    beacon: Flags.string({description: 'Beacon mode: the relay\'s host:port (operator.broker.beacon.address).', helpGroup: 'BEACON'}),
    'ca-sha256': Flags.string({description: 'Beacon and reverse modes: the cluster CA pin, the operationalInfoHash `cloudtaser source register` printed (operator.broker.beacon.caSha256).', helpGroup: 'BEACON'}),
    'auth-mount': Flags.string({description: 'Beacon and reverse modes: the jwt auth mount (`source configure --jwt-from-registration`) the operator logs in with through the broker, keeping its webhook material in OpenBao. Without it the material is kept in a Kubernetes Secret (warned).', helpGroup: 'BEACON'}),
    'beacon-plain': Flags.boolean({description: 'Beacon mode: plain TCP to the relay (a lab or trusted network); the tunnel inside is mTLS either way.', default: false, helpGroup: 'BEACON'}),
    values: Flags.string({char: 'f', description: 'Values file (repeatable; later wins), as helm -f.', multiple: true, default: []}),
    set: Flags.string({description: 'key=value (repeatable), as helm --set.', multiple: true, default: []}),
    'dry-run': Flags.boolean({description: 'Print the manifests; change nothing.', default: false}),
    wait: Flags.boolean({description: 'Wait until the operator and the agent are ready.', default: false}),
    timeout: Flags.string({description: 'How long --wait waits (helm duration, e.g. 5m).', default: '5m'}),
  }

  async run(): Promise<InstallResult> {
    const f = this.flags
    const args = installArgs({release: f.release, namespace: f.namespace, mode: f.mode as ConnectivityMode, values: f.values, vaultAddress: f['vault-address'] ?? (process.env.BAO_ADDR || process.env.VAULT_ADDR || undefined), beacon: {address: f.beacon, caSha256: f['ca-sha256'], plain: f['beacon-plain'], authMount: f['auth-mount']}, set: f.set, dryRun: f['dry-run'], wait: f.wait, timeout: f.timeout, kubeconfig: f.kubeconfig, context: f.context})
    const out = await runHelm(args)
    const result: InstallResult = {release: f.release, namespace: f.namespace, mode: f.mode as ConnectivityMode, dryRun: f['dry-run'], helm: args}
    if (f['dry-run']) {
      result.manifests = out.stdout
      if (!this.jsonEnabled()) process.stdout.write(out.stdout)
    } else {
      this.log(out.stdout.trimEnd())
      if (f.mode === 'reverse')
        this.log(`\nNext, on the OpenBao side: record where the bridge dials the broker, the address of the Service ${f.namespace}/cloudtaser-broker-tunnel (a load balancer's address, or a node's address and the node port):\n  cloudtaser source register --fingerprint <kube-system UID> --reverse-endpoint HOST:PORT`)
    }
    return result
  }
}
