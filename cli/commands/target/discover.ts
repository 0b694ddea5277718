import {Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {kubeFlags, kubeTargetFromFlags, namespaceFlags} from '../../flags/kube.js'
import {DEFAULT_PATH_TEMPLATE} from '../../../lib/discover/transform.js'
import {discover, type DiscoverRequest, type DiscoverResult} from '../../../lib/discover/service.js'
import {renderPlan} from '../../../lib/plan/new-plan.js'

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
    'kernel-protection': Flags.string({description: 'kernelProtection of every new workload (default: required when every node\'s eBPF agent enforces, else preferred).', options: ['required', 'preferred', 'off']}),
  }

  async run(): Promise<DiscoverResult> {
    const f = this.flags
    const json = this.jsonEnabled()
    const progress = progressWriter(json)
    const result = await discover(kubeTargetFromFlags(f), {
      namespaces: f.namespace,
      excludeNamespaces: f['exclude-namespace'],
      clusterName: f['cluster-name'],
      mount: f.mount,
      pathTemplate: f['path-template'],
      authMount: f['auth-mount'],
      vaultAddress: f['vault-address'],
      output: f.output,
      update: f.update,
      kernelProtection: f['kernel-protection'] as DiscoverRequest['kernelProtection'],
      onProgress: progress,
    })
    if (progress) process.stderr.write('\r\x1b[K')
    // The plan alone on stdout, as it would be written (`discover > plan.yaml` works).
    if (!result.file && !json) process.stdout.write(renderPlan(result.plan))
    for (const line of discoverSummary(result)) {
      if (result.file) this.log(line)
      else this.logToStderr(line)
    }
    return result
  }
}

const MAX_LISTED = 20

/**
 * The human summary of a discover run, one line each. They go to stdout when the plan went to a
 * file, else to stderr so that stdout is the plan alone (`discover > plan.yaml` works).
 */
export function discoverSummary(result: DiscoverResult): string[] {
  const lines = [
    `Cluster ${result.cluster.name} (fingerprint ${result.cluster.fingerprint})`,
    `${result.workloads} workload(s) in ${result.tenants} namespace(s) read ${result.secrets} Secret(s)${result.file ? `; plan written to ${result.file}` : ''}`,
  ]
  if (result.workloads > 0) lines.push(`kernelProtection: ${result.kernelProtection.value} (${result.kernelProtection.why}); reviewers may change it per workload`)
  const u = result.update
  if (u) lines.push(`update: ${u.added.length} added, ${u.vanished.length} vanished, ${u.secretsAdded.length} new secret reference(s)`)
  for (const g of (u?.secretsGone ?? []).slice(0, MAX_LISTED)) lines.push(`note: ${g} is no longer referenced by the workload; kept in the plan for review`)
  // A large cluster can reference thousands of missing Secrets: show a few, count the rest.
  for (const m of result.missingSecrets.slice(0, MAX_LISTED)) lines.push(`warning: Secret ${m} is referenced but does not exist (flagged missing: true in the plan)`)
  if (result.missingSecrets.length > MAX_LISTED) lines.push(`warning: ... and ${result.missingSecrets.length - MAX_LISTED} more missing Secret(s) (see missing: true in the plan, or --json)`)
  if (result.alreadyInjected.length) lines.push(`${result.alreadyInjected.length} workload(s) already injected, skipped`)
  if (result.vaultInjected) lines.push(`${result.vaultInjected} workload(s) use the Vault injector: listed under vaultInjected for a decision`)
  if (result.notProtectable) lines.push(`${result.notProtectable} bare Pod(s)/Job(s) read Secrets but cannot be protected: listed under notProtectable`)
  if (result.imagePullSecretsIgnored) lines.push(`${result.imagePullSecretsIgnored} imagePullSecrets reference(s) left alone: they are for the kubelet, not the application`)
  if (result.filesNotDeliverable) lines.push(`${result.filesNotDeliverable} Secret file mount(s) the wrapper cannot deliver stay on the Secret (deliverable: false, see remains)`)
  return lines
}

/** Progress on a terminal only, redrawn in place; never under --json. */
export const progressWriter = (json: boolean): ((message: string) => void) | undefined =>
  process.stderr.isTTY && !json ? (m) => process.stderr.write(`\r\x1b[K${m}`) : undefined
