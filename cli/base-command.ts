import {Command, Errors, type Interfaces} from '@oclif/core'
import {CloudtaserError, ExitCode, isCloudtaserError} from '../lib/errors.js'
import {internalError, writeError} from '../lib/report-error.js'

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>
export type BaseArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

/**
 * Every command: parse, call one service, render. Errors become a stable code, an exit code and
 * a hint in ONE place. @oclif/core 4 exits 1 under --json whatever code `this.error` was given,
 * so `catch` writes the error itself and sets process.exitCode.
 */
export abstract class BaseCommand<T extends typeof Command> extends Command {
  static override enableJsonFlag = true

  // No --no-color: cloudtaser writes no colour of its own, and what colours there are (oclif's
  // help, the protect prompts) follow NO_COLOR / FORCE_COLOR and the terminal, as Node decides.
  static override baseFlags = {}

  protected flags!: BaseFlags<T>
  protected args!: BaseArgs<T>

  public override async init(): Promise<void> {
    await super.init()
    const {args, flags} = await this.parse({
      flags: this.ctor.flags,
      baseFlags: (super.ctor as typeof BaseCommand).baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      args: this.ctor.args,
      strict: this.ctor.strict,
    })
    this.flags = flags as BaseFlags<T>
    this.args = args as BaseArgs<T>
  }

  /** Results that are "the check ran and found problems" set exit 1 without throwing. */
  protected setExitCode(code: ExitCode): void {
    process.exitCode = code
  }

  protected override async catch(err: Error & {exitCode?: number}): Promise<unknown> {
    writeError(toCloudtaserError(err), this.jsonEnabled(), err.stack)
    return undefined
  }
}

function toCloudtaserError(err: Error & {exitCode?: number; oclif?: {exit?: number}}): CloudtaserError {
  if (isCloudtaserError(err)) return err
  if (err instanceof Errors.CLIError || err.oclif?.exit === 2) {
    const usage = err.oclif?.exit === 2 || /flag|argument|Missing|Unexpected/i.test(err.message)
    return new CloudtaserError(usage ? 'USAGE' : 'CLI_ERROR', err.message.replace(/^Error: /, ''), {
      exitCode: usage ? ExitCode.USAGE : ExitCode.CHECK_FAILED,
      hint: usage ? 'Run the command with --help for its flags and examples.' : undefined,
    })
  }
  if (err.name === 'ExitPromptError' || (err as NodeJS.ErrnoException).code === 'ABORT_ERR') {
    return new CloudtaserError('INTERRUPTED', 'interrupted', {exitCode: ExitCode.INTERRUPTED})
  }
  return internalError(err)
}
