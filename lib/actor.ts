import {execFileSync} from 'node:child_process'
import {hostname, userInfo} from 'node:os'
import {gitOutput} from './git.js'

/**
 * Who is running the command, as recorded in plans (createdBy, status.by): the Git identity
 * (`Name <email>`) inside a repository that has one, otherwise `user@host`. CLOUDTASER_ACTOR
 * overrides both, for CI runners whose OS user means nothing.
 */
export function currentActor(cwd = process.cwd()): string {
  const git = (...args: string[]): string | undefined => {
    try {
      return execFileSync('git', args, {cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 2000}).trim() || undefined
    } catch {
      return undefined
    }
  }
  const found = override()
  if (found) return found
  const inside = git('rev-parse', '--is-inside-work-tree') === 'true'
  return (inside && identity(git('config', '--get', 'user.name'), git('config', '--get', 'user.email'))) || osActor()
}

/** currentActor without blocking: discover asks while it lists, so its Git runs overlap the listing. */
export async function currentActorAsync(cwd = process.cwd()): Promise<string> {
  const found = override()
  if (found) return found
  const inside = (await gitOutput(cwd, 'rev-parse', '--is-inside-work-tree')) === 'true'
  const [name, email] = inside ? await Promise.all([gitOutput(cwd, 'config', '--get', 'user.name'), gitOutput(cwd, 'config', '--get', 'user.email')]) : []
  return identity(name, email) ?? osActor()
}

const override = (): string | undefined => process.env.CLOUDTASER_ACTOR?.trim() || undefined

const identity = (name: string | undefined, email: string | undefined): string | undefined => (name && email ? `${name} <${email}>` : undefined)

function osActor(): string {
  let user: string
  try {
    user = userInfo().username
  } catch {
    user = process.env.USER ?? 'unknown'
  }
  return `${user}@${hostname()}`
}
