import {BaseCommand} from '../../base-command.js'
import {harden} from '../../../runtime/wrapper/hardening.js'
import {runWrapper} from '../../../runtime/wrapper/main.js'

export default class WrapperRun extends BaseCommand<typeof WrapperRun> {
  static override hidden = true
  // The app owns stdout: no --json envelope around it.
  static override enableJsonFlag = false
  static override summary = 'Run the in-Pod wrapper: fetch secrets from OpenBao, start CLOUDTASER_ORIGINAL_CMD with them.'
  static override description = `Configured only by CLOUDTASER_* environment variables (the webhook writes them; see docs/wrapper.md). Exits with the application's exit code (128+signal when it was killed). In a Pod the init container's copy at /cloudtaser/wrapper runs instead of this command.`
  static override examples = ['CLOUDTASER_ORIGINAL_CMD=\'["node","server.js"]\' CLOUDTASER_VAULT_ADDR=https://bao:8200 ... <%= config.bin %> wrapper run']

  async run(): Promise<void> {
    // Same as the executable's entry: the addon (CLOUDTASER_NATIVE_ADDON or next to node) when there is one.
    process.exitCode = await runWrapper(process.env, harden(process.env))
  }
}
