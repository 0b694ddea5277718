import {BaseCommand} from '../../base-command.js'
import {kubeFlags, kubeTargetFromFlags} from '../../flags/kube.js'
import {checkNodes, type ClusterCheck} from '../../../lib/check/nodes.js'
import {ExitCode} from '../../../lib/errors.js'

export default class TargetCheck extends BaseCommand<typeof TargetCheck> {
  static override summary = 'Say, per node, whether the kernel can deny other processes access to protected memory: enforce, detect or degraded.'
  static override description = `Reads what each node's cloudtaser eBPF agent found when it started (label cloudtaser.io/kernel-protection, annotation cloudtaser.io/kernel-report: kernel, BPF LSM active, programs loaded, BTF, memfd_secret, cgroup version, swap) and what the kubelet reports (kernel, container runtime). A node without an agent says so. Exit 1 when any node does not enforce. Also prints the kernelProtection that discover would write for this cluster.`
  static override examples = ['<%= config.bin %> target check', '<%= config.bin %> target check --context prod-eu-1 --json']
  static override flags = {...kubeFlags}

  async run(): Promise<ClusterCheck> {
    const result = await checkNodes(kubeTargetFromFlags(this.flags))
    for (const n of result.nodes) {
      const r = n.report
      const facts = r ? [`BPF LSM ${r.bpfLsmActive ? 'active' : 'inactive'}`, `BTF ${r.btf ? 'yes' : 'no'}`, `memfd_secret ${r.memfdSecret}`, `cgroup ${r.cgroup}`, `swap ${r.swap ? 'on' : 'off'}`] : []
      this.log(`${n.name}: ${n.verdict}${n.reason ? ` (${n.reason})` : ''}`)
      this.log(`  kernel ${n.kernel ?? '?'}, ${n.containerRuntime ?? 'runtime ?'}${facts.length ? `; ${facts.join(', ')}` : ''}`)
    }
    this.log(`${result.enforcing} of ${result.nodes.length} node(s) enforce; discover's kernelProtection default: ${result.kernelProtection.value} (${result.kernelProtection.why})`)
    if (result.enforcing < result.nodes.length || result.nodes.length === 0) this.setExitCode(ExitCode.CHECK_FAILED)
    return result
  }
}
