// How a command reports a failure, shared by the oclif commands (cli/base-command.ts) and the
// oclif-free entry of the S3 proxy (runtime/s3-proxy/main.ts), so both print the same thing.
import {CloudtaserError, ExitCode} from './errors.js'

/**
 * How every command reports a failure: the error object under --json (stdout, as oclif writes
 * JSON), else code, message and hint on stderr; the stack only for internal errors (bugs).
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
