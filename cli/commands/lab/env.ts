import {Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {defaultStateDir, envLines, requireRunning} from '../../../lib/lab/index.js'

export interface LabEnvResult {
  KUBECONFIG: string
  BAO_ADDR: string
  BAO_TOKEN: string
  PATH_PREPEND: string
  /** With a node: host:port of the lab's registry. */
  CLOUDTASER_LAB_REGISTRY?: string
}

export default class LabEnv extends BaseCommand<typeof LabEnv> {
  static override summary = 'Print `export` lines (KUBECONFIG, BAO_ADDR, BAO_TOKEN, CLOUDTASER_LAB_REGISTRY, PATH with kubectl and bao) for the running lab.'
  static override examples = ['eval "$(<%= config.bin %> lab env)"', '<%= config.bin %> lab env --json']
  static override flags = {
    'state-dir': Flags.string({description: 'Where the lab keeps its state.', default: defaultStateDir(), defaultHelp: async () => '$CLOUDTASER_LAB_DIR or $XDG_STATE_HOME/cloudtaser/lab'}),
  }

  async run(): Promise<LabEnvResult> {
    const state = requireRunning(this.flags['state-dir'])
    for (const line of envLines(state)) this.log(line)
    return {KUBECONFIG: state.kubeconfigPath, BAO_ADDR: state.baoAddr, BAO_TOKEN: state.baoToken, PATH_PREPEND: state.binDir, ...(state.node ? {CLOUDTASER_LAB_REGISTRY: state.node.registry} : {})}
  }
}
