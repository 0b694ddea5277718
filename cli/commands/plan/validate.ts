import {Args} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {ExitCode} from '../../../lib/errors.js'
import {checkPlanFiles, type ValidateResult} from '../../../lib/plan/check-files.js'
import {formatIssue} from '../../../lib/plan/issues.js'

export default class PlanValidate extends BaseCommand<typeof PlanValidate> {
  static override summary = 'Check plan files against the MigrationPlan schema.'
  static override description =
    'Prints one line per problem as FILE:LINE:COL: MESSAGE. Exit 0 when every file is valid, 1 when any is not, 2 on usage errors.'
  static override examples = [
    '<%= config.bin %> plan validate plan.yaml',
    '<%= config.bin %> plan validate examples/plans/*.yaml --json',
  ]
  static override strict = false
  static override args = {file: Args.string({description: 'Plan files to check.', required: true})}

  async run(): Promise<ValidateResult> {
    const {argv} = await this.parse(PlanValidate)
    const result = await checkPlanFiles(argv as string[])
    for (const f of result.files) {
      if (f.valid) this.log(`${f.file}: valid`)
      for (const issue of f.issues) this.log(formatIssue(issue))
    }
    if (!result.valid) this.setExitCode(ExitCode.CHECK_FAILED)
    return result
  }
}
