import {execFileSync} from 'node:child_process'
import {hostname, userInfo} from 'node:os'

/**
 * Who is running the command, as recorded in plans (createdBy, status.by): the Git identity
 * (`Name <email>`) inside a repository that has one, otherwise `user@host`. CLOUDTASER_ACTOR
 * overrides both, for CI runners whose OS user means nothing.
 */
export function currentActor(cwd = process.cwd()): string {
  const override = process.env.CLOUDTASER_ACTOR?.trim()
  if (override) return override
  const git = (key: string): string | undefined => {
    try {
      return execFileSync('git', ['config', '--get', key], {cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 2000}).trim() || undefined
    } catch {
      return undefined
    }
  }
  if (insideGitRepo(cwd)) {
    const name = git('user.name')
    const email = git('user.email')
    if (name && email) return `${name} <${email}>`
  }
  let user = 'unknown'
  try {
    user = userInfo().username
  } catch {
    user = process.env.USER ?? 'unknown'
  }
  return `${user}@${hostname()}`
}

function insideGitRepo(cwd: string): boolean {
  try {
    return execFileSync('git', ['rev-parse', '--is-inside-work-tree'], {cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 2000}).trim() === 'true'
  } catch {
    return false
  }
}
