import {CloudtaserError, ExitCode} from '../../lib/errors.js'

/**
 * How every command reports a failure: the error object under --json (stdout, as oclif writes
 * JSON), else code, message and hint on stderr; the stack only for internal errors (bugs).
 * Also used by the oclif-free `target discover` path (cli/direct-discover.ts).
 */
export function writeError(error: CloudtaserError, json: boolean, stack?: string): void {
  if (json) {
    process.stdout.write(`${JSON.stringify({error: error.toJSON()}, null, 2)}\n`)
  } else {
    process.stderr.write(`Error [${error.code}]: ${error.message}\n`)
    if (error.hint) process.stderr.write(`Hint: ${error.hint}\n`)
    if (error.exitCode === ExitCode.INTERNAL && stack) process.stderr.write(`${stack}\n`)
  }
  process.exitCode = error.exitCode
}

/** Anything that is not a CloudtaserError is a bug: say so, keep the cause. */
export const internalError = (err: Error): CloudtaserError =>
  new CloudtaserError('INTERNAL', err.message, {
    exitCode: ExitCode.INTERNAL,
    hint: 'This is a bug in cloudtaser; please report it with the command you ran.',
    cause: err,
  })
