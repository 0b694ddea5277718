import {isCloudtaserError} from '../errors.js'
import {checkPlanText, readPlanText} from './io.js'
import type {PlanIssue} from './issues.js'

export interface FileCheck {
  file: string
  valid: boolean
  issues: PlanIssue[]
}

export interface ValidateResult {
  valid: boolean
  files: FileCheck[]
}

/** Checks every file; one bad file never hides the results of the others. */
export async function checkPlanFiles(files: string[]): Promise<ValidateResult> {
  const results: FileCheck[] = []
  for (const file of files) {
    try {
      const r = checkPlanText(await readPlanText(file), file)
      results.push({file, valid: r.ok, issues: r.ok ? [] : r.issues})
    } catch (err) {
      results.push({file, valid: false, issues: [{file, line: 0, col: 0, code: isCloudtaserError(err) ? err.code : 'PLAN_UNREADABLE', message: (err as Error).message}]})
    }
  }
  return {valid: results.every((r) => r.valid), files: results}
}
