import {Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {defaultStateDir, labUp, type LabState} from '../../../lib/lab/index.js'

export default class LabUp extends BaseCommand<typeof LabUp> {
  static override summary = 'Start a local Kubernetes cluster (one node, unless --no-node) and OpenBao, in the background.'
  static override description =
    'Returns once every server is ready and the node is Ready. State, logs, PKI and data live in --state-dir until `lab down`. The first run builds the control-plane binary from test/env (minutes); later runs reuse it. The node needs root and the packages of .ci/install.d/60-node.sh.'
  static override examples = ['<%= config.bin %> lab up', 'eval "$(<%= config.bin %> lab env)"', '<%= config.bin %> lab up --json']
  static override flags = {
    'state-dir': Flags.string({description: 'Where the lab keeps its state.', default: defaultStateDir(), defaultHelp: async () => '$CLOUDTASER_LAB_DIR or $XDG_STATE_HOME/cloudtaser/lab'}),
    node: Flags.boolean({description: 'Also start a node where Pods run (kubelet, containerd, kube-proxy, CoreDNS, an OCI registry); --no-node for the control plane only.', default: true, allowNo: true}),
  }

  async run(): Promise<Omit<LabState, 'baoToken'>> {
    // A first run compiles the control plane for minutes: show go's progress on stderr.
    const state = await labUp(this.flags['state-dir'], {log: (line) => this.logToStderr(line), node: this.flags.node})
    this.log(`Lab ready in ${(state.readyMs / 1000).toFixed(1)} s`)
    this.log(`  kube-apiserver  ${state.server}`)
    this.log(`  OpenBao         ${state.baoAddr}`)
    if (state.node) this.log(`  node            ${state.node.name} (${state.node.nodeIp}), registry ${state.node.registry}`)
    this.log(`  state           ${state.stateDir}`)
    this.log('Use it from a shell:  eval "$(cloudtaser lab env)"   Stop it:  cloudtaser lab down')
    // The root token stays in the 0600 state file; `lab env` prints it on request.
    const {baoToken: _token, ...shown} = state
    return shown
  }
}
