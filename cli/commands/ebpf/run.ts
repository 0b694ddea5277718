import {Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {startAgent, type AgentSummary} from '../../../lib/ebpf/agent.js'
import {DEFAULT_AGENT_SOCKET} from '../../../lib/ebpf/register.js'
import {nodeReport, publishNodeReport} from '../../../lib/ebpf/node-report.js'
import {kubeConfigFromFlags, kubeFlags} from '../../flags/kube.js'

export default class EbpfRun extends BaseCommand<typeof EbpfRun> {
  static override summary = 'Run the node agent that makes the kernel refuse access to protected processes.'
  static override description = `Loads the BPF-LSM programs (or reuses pinned ones), serves the registration socket wrappers use (any user may connect; a registration protects only the caller), and logs every denial as one JSON object per line on stdout, with the pod UID when the process is in a pod. Serves /healthz, /readyz, /metrics and /status over HTTP. When the kernel cannot enforce (no bpf in the active LSM list, no BTF) it runs degraded: it answers registrations with "degraded" so fail-closed wrappers do not start, and says why in /status. Runs until SIGTERM; pinned programs keep enforcing after it stops.`
  static override examples = [
    '<%= config.bin %> ebpf run',
    '<%= config.bin %> ebpf run --mode detect --port 9464',
  ]
  static override flags = {
    mode: Flags.string({description: 'enforce: deny; detect: log only. A pinned enforce state cannot be lowered without a reboot.', options: ['enforce', 'detect'], default: 'enforce'}),
    socket: Flags.string({description: 'Registration socket path.', default: DEFAULT_AGENT_SOCKET}),
    'pin-dir': Flags.string({description: 'bpffs directory for pinned maps and links.', default: '/sys/fs/bpf/cloudtaser'}),
    host: Flags.string({description: 'HTTP listen address for health, metrics and status.', default: '127.0.0.1'}),
    port: Flags.integer({description: 'HTTP port (0: any free port).', default: 9464}),
    'node-name': Flags.string({description: 'Publish what this node can do on its Node object (label cloudtaser.io/kernel-protection, annotation cloudtaser.io/kernel-report; needs patch on nodes), removed again on stop. In a DaemonSet: the downward API\'s spec.nodeName.', env: 'NODE_NAME'}),
    ...kubeFlags,
    'agent-binary': Flags.string({description: 'Path of cloudtaser-ebpf-agent (default: $CLOUDTASER_EBPF_AGENT or the repository build).'}),
  }

  async run(): Promise<AgentSummary> {
    const f = this.flags
    const agent = await startAgent({
      mode: f.mode as 'enforce' | 'detect',
      socketPath: f.socket,
      pinDir: f['pin-dir'],
      host: f.host,
      port: f.port,
      binary: f['agent-binary'],
    })
    process.stderr.write(`cloudtaser ebpf agent: ${agent.state.capabilities.mode ?? '?'} mode, http ${agent.url}\n`)
    const kc = f['node-name'] ? kubeConfigFromFlags(f) : undefined
    if (kc) {
      const report = nodeReport(agent.state.capabilities)
      await publishNodeReport(kc, f['node-name']!, report)
      process.stderr.write(`node ${f['node-name']}: cloudtaser.io/kernel-protection=${report.verdict}${report.reason ? ` (${report.reason})` : ''}\n`)
    }
    const stop = (): void => void agent.stop()
    process.once('SIGTERM', stop)
    process.once('SIGINT', stop)
    const summary = await agent.exited
    // Nothing on this node answers registrations any more: schedulers and discover must not count it.
    if (kc) await publishNodeReport(kc, f['node-name']!, undefined).catch((err: Error) => process.stderr.write(`could not remove the node report: ${err.message}\n`))
    process.off('SIGTERM', stop)
    process.off('SIGINT', stop)
    return summary
  }
}
