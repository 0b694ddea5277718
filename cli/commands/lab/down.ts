import {Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {defaultStateDir, labDown, type DownResult} from '../../../lib/lab/index.js'

export default class LabDown extends BaseCommand<typeof LabDown> {
  static override summary = 'Stop the lab started by `lab up` and remove its state directory (data, logs, PKI).'
  static override examples = ['<%= config.bin %> lab down', '<%= config.bin %> lab down --json']
  static override flags = {
    'state-dir': Flags.string({description: 'Where the lab keeps its state.', default: defaultStateDir(), defaultHelp: async () => '$CLOUDTASER_LAB_DIR or $XDG_STATE_HOME/cloudtaser/lab'}),
  }

  async run(): Promise<DownResult> {
    const r = await labDown(this.flags['state-dir'])
    if (!r.removed && r.stopped.length === 0) this.log('No lab was running.')
    else this.log(`Stopped ${r.stopped.length ? r.stopped.join(', ') : 'nothing (already down)'}; removed ${r.stateDir}`)
    return r
  }
}
