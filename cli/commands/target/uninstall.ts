import {Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {kubeFlags} from '../../flags/kube.js'
import {runHelm, uninstallArgs} from '../../../lib/install/helm.js'

export default class TargetUninstall extends BaseCommand<typeof TargetUninstall> {
  static override summary = 'Remove cloudtaser from the cluster (helm uninstall): operator, webhook, agents.'
  static override description = `Protected workloads keep their annotations; once the webhook is gone their new Pods start unwrapped and without their secrets. Run \`target unprotect --plan\` first to put the Kubernetes Secret references back.`
  static override examples = ['<%= config.bin %> target uninstall', '<%= config.bin %> target uninstall -n cloudtaser-system --wait']
  static override flags = {
    ...kubeFlags,
    namespace: Flags.string({char: 'n', description: 'Namespace of the release.', default: 'cloudtaser-system'}),
    release: Flags.string({description: 'Helm release name.', default: 'cloudtaser'}),
    wait: Flags.boolean({description: 'Wait until every object is gone.', default: false}),
    timeout: Flags.string({description: 'How long --wait waits.', default: '5m'}),
  }

  async run(): Promise<{release: string; namespace: string}> {
    const f = this.flags
    const out = await runHelm(uninstallArgs({release: f.release, namespace: f.namespace, wait: f.wait, timeout: f.timeout, kubeconfig: f.kubeconfig, context: f.context}))
    this.log(out.stdout.trimEnd())
    return {release: f.release, namespace: f.namespace}
  }
}
