import {CloudtaserError, ExitCode, type ErrorCode} from '../errors.js'

type LabCode = ErrorCode extends infer C ? (C extends `LAB_${infer S}` ? S : never) : never

/** Every lab failure carries a LAB_* code so scripts and tests can tell them apart. */
export function labError(code: LabCode, message: string, hint?: string, cause?: unknown): CloudtaserError {
  return new CloudtaserError(`LAB_${code}`, message, {exitCode: ExitCode.UNAVAILABLE, hint, cause})
}
