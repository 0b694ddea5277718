import {Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {kubeFlags, namespaceFlags} from '../../flags/kube.js'
import {DEFAULT_PATH_TEMPLATE} from '../../../lib/discover/transform.js'
import {discoverIsolated} from '../../../lib/discover/isolated.js'
import type {DiscoverJobResult} from '../../../lib/discover/job.js'
import {discoverSummary, progressWriter} from '../../render/discover.js'

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

  async run(): Promise<DiscoverJobResult> {
    const f = this.flags
    const json = this.jsonEnabled()
    const progress = progressWriter(json)
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
        progress: progress !== undefined,
        withPlan: json,
        render: !f.output && !f.update && !json,
      },
      progress,
    )
    if (progress) process.stderr.write('\r\x1b[K')
    if (result.text !== undefined) this.log(result.text)
    for (const line of discoverSummary(result)) {
      if (result.file) this.log(line)
      else this.logToStderr(line)
    }
    return result
  }
}
