import {CloudtaserError, ExitCode, type ErrorCode} from '../errors.js'

/** One problem in a plan file, located so an editor can jump to it. */
export interface PlanIssue {
  file: string
  line: number
  col: number
  /** Stable code: PLAN_YAML_SYNTAX, PLAN_SCHEMA, PLAN_SECRET_VALUE, PLAN_VERSION, ... */
  code: ErrorCode
  message: string
  /** JSON pointer into the plan, when the problem is a value. */
  pointer?: string
}

export const formatIssue = (i: PlanIssue): string => `${i.file}:${i.line}:${i.col}: ${i.message}`

export class PlanInvalidError extends CloudtaserError {
  readonly issues: PlanIssue[]

  constructor(file: string, issues: PlanIssue[]) {
    const first = issues[0]
    const summary = first ? formatIssue(first) : `${file}: invalid plan`
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''
    super(first?.code ?? 'PLAN_INVALID', summary + more, {
      exitCode: ExitCode.CHECK_FAILED,
      hint: 'Fix the plan at the reported line and column; `cloudtaser plan validate FILE` lists every problem.',
      details: {issues},
    })
    this.issues = issues
  }
}
