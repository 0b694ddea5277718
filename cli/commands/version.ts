import {BaseCommand} from '../base-command.js'
import {versionInfo, type VersionInfo} from '../../lib/version.js'

export default class Version extends BaseCommand<typeof Version> {
  static override summary = 'Print cloudtaser, plan format and runtime versions.'
  static override examples = ['<%= config.bin %> version', '<%= config.bin %> version --json']

  async run(): Promise<VersionInfo> {
    const info = versionInfo()
    this.log(`cloudtaser ${info.version}`)
    this.log(`plan apiVersions: ${info.planApiVersions.join(', ')}`)
    this.log(`node ${info.node} (${info.platform})`)
    return info
  }
}
