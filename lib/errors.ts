/**
 * Exit codes are part of the CLI's contract: scripts branch on them.
 * 1 is reserved for "the check ran and found problems" (invalid plan, missing secret),
 * so a failing check is distinguishable from a tool that could not run at all.
 */
export const ExitCode = {
  OK: 0,
  CHECK_FAILED: 1,
  USAGE: 2,
  CONFIG: 3,
  AUTH: 4,
  UNAVAILABLE: 5,
  CONFLICT: 6,
  INTERRUPTED: 130,
  INTERNAL: 70,
} as const
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

export interface ErrorOptions {
  exitCode?: ExitCode
  hint?: string
  details?: unknown
  cause?: unknown
}

/** An error a user can act on: a stable code for scripts, an exit code, and what to do next. */
export class CloudtaserError extends Error {
  readonly code: string
  readonly exitCode: ExitCode
  readonly hint?: string
  readonly details?: unknown

  constructor(code: string, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause})
    this.name = 'CloudtaserError'
    this.code = code
    this.exitCode = options.exitCode ?? ExitCode.CHECK_FAILED
    this.hint = options.hint
    this.details = options.details
  }

  toJSON(): {code: string; message: string; exitCode: number; hint?: string; details?: unknown} {
    return {code: this.code, message: this.message, exitCode: this.exitCode, hint: this.hint, details: this.details}
  }
}

export const isCloudtaserError = (e: unknown): e is CloudtaserError => e instanceof CloudtaserError
