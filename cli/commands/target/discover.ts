import {Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {kubeFlags, namespaceFlags} from '../../flags/kube.js'
import {DEFAULT_PATH_TEMPLATE} from '../../../lib/discover/transform.js'
import {discoverIsolated, type IsolatedResult} from '../../../lib/discover/isolated.js'

const MAX_LISTED = 20

export default class TargetDiscover extends BaseCommand<typeof TargetDiscover> {
  static override summary = 'Read the cluster and write a migration plan: which workloads read which Secrets, and where each will live in OpenBao.'
  static override description = `Lists Deployments, StatefulSets, DaemonSets and CronJobs and every way they read Kubernetes Secrets (env secretKeyRef, envFrom, secret and projected volumes). Never reads a Secret value: Secrets are listed as metadata only. Skips kube-system, kube-public, kube-node-lease and cloudtaser-system unless named with -n, and workloads already injected. Output is sorted, so re-running on an unchanged cluster changes only createdAt.`
  static override examples = [
    '<%= config.bin %> target discover -o plan.yaml',
    '<%= config.bin %> target discover -n shop -n billing --path-template "{mount}/data/eu/{namespace}/{secret}" -o plan.yaml',
    '<%= config.bin %> target discover --update plan.yaml',
  ]
  static override flags = {
    ...kubeFlags,
    output: Flags.string({char: 'o', description: 'Write the plan to this file (default: print it).', aliases: ['output-plan'], exclusive: ['update']}),
    update: Flags.string({description: 'Re-discover into this existing plan, keeping statuses and reviewers\' comments.'}),
    ...namespaceFlags,
    'path-template': Flags.string({description: 'KV v2 path of each secret; placeholders {mount} {cluster} {namespace} {secret}.', default: DEFAULT_PATH_TEMPLATE}),
    mount: Flags.string({description: 'The KV v2 mount in OpenBao.', default: 'secret'}),
    'cluster-name': Flags.string({description: 'Name used in paths and policy names (default: the kubeconfig cluster name).'}),
    'auth-mount': Flags.string({description: 'Kubernetes auth mount in OpenBao for this cluster, without auth/.', default: 'kubernetes'}),
    'vault-address': Flags.string({description: 'OpenBao (or broker) URL the pods will use; recorded for protect.'}),
  }

  async run(): Promise<IsolatedResult> {
    const f = this.flags
    const tty = process.stderr.isTTY && !this.jsonEnabled()
    const result = await discoverIsolated(
      {
        selection: {kubeconfig: f.kubeconfig, context: f.context},
        request: {
          namespaces: f.namespace,
          excludeNamespaces: f['exclude-namespace'],
          clusterName: f['cluster-name'],
          mount: f.mount,
          pathTemplate: f['path-template'],
          authMount: f['auth-mount'],
          vaultAddress: f['vault-address'],
          output: f.output,
          update: f.update,
        },
        progress: tty,
        withPlan: this.jsonEnabled(),
        render: !f.output && !f.update && !this.jsonEnabled(),
      },
      tty ? (m) => process.stderr.write(`\r\x1b[K${m}`) : undefined,
    )
    if (tty) process.stderr.write('\r\x1b[K')
    if (result.text !== undefined) this.log(result.text)
    const log = (l: string): void => (result.file ? this.log(l) : this.logToStderr(l))
    log(`Cluster ${result.cluster.name} (fingerprint ${result.cluster.fingerprint})`)
    log(`${result.workloads} workload(s) in ${result.tenants} namespace(s) read ${result.secrets} Secret(s)${result.file ? `; plan written to ${result.file}` : ''}`)
    if (result.update) log(`update: ${result.update.added.length} added, ${result.update.vanished.length} vanished, ${result.update.secretsAdded.length} new secret reference(s)`)
    for (const g of (result.update?.secretsGone ?? []).slice(0, MAX_LISTED)) log(`note: ${g} is no longer referenced by the workload; kept in the plan for review`)
    // A large cluster can reference thousands of missing Secrets: show a few, count the rest.
    for (const m of result.missingSecrets.slice(0, MAX_LISTED)) log(`warning: Secret ${m} is referenced but does not exist (flagged missing: true in the plan)`)
    if (result.missingSecrets.length > MAX_LISTED) log(`warning: ... and ${result.missingSecrets.length - MAX_LISTED} more missing Secret(s) (see missing: true in the plan, or --json)`)
    if (result.alreadyInjected.length) log(`${result.alreadyInjected.length} workload(s) already injected, skipped`)
    if (result.vaultInjected) log(`${result.vaultInjected} workload(s) use the Vault injector: listed under vaultInjected for a decision`)
    if (result.notProtectable) log(`${result.notProtectable} bare Pod(s)/Job(s) read Secrets but cannot be protected: listed under notProtectable`)
    if (result.imagePullSecretsIgnored) log(`${result.imagePullSecretsIgnored} imagePullSecrets reference(s) left alone: they are for the kubelet, not the application`)
    if (result.filesNotDeliverable) log(`${result.filesNotDeliverable} Secret file mount(s) recorded but not deliverable by the wrapper yet (deliverable: false)`)
    return result
  }
}
