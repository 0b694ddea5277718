import {CloudtaserError, ExitCode} from '../errors.js'

/** Every lab failure carries a LAB_* code so scripts and tests can tell them apart. */
export function labError(code: string, message: string, hint?: string, cause?: unknown): CloudtaserError {
  return new CloudtaserError(`LAB_${code}`, message, {exitCode: ExitCode.UNAVAILABLE, hint, cause})
}
