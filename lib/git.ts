import {execFile} from 'node:child_process'

/** A git command's trimmed output in `cwd`; undefined when git fails, is missing or prints nothing. */
export const gitOutput = (cwd: string, ...args: string[]): Promise<string | undefined> =>
  new Promise((resolve) => {
    execFile('git', args, {cwd, encoding: 'utf8', timeout: 2000}, (err, stdout) => resolve(err ? undefined : stdout.trim() || undefined))
  })
