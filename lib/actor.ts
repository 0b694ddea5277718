import {execFile, execFileSync} from 'node:child_process'
import {hostname, userInfo} from 'node:os'

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
  return override() ?? fromGit(git('rev-parse', '--is-inside-work-tree'), () => [git('config', '--get', 'user.name'), git('config', '--get', 'user.email')]) ?? osActor()
}

/** currentActor without blocking: discover asks while it lists, and its three Git runs overlap the listing. */
export async function currentActorAsync(cwd = process.cwd()): Promise<string> {
  const git = (...args: string[]): Promise<string | undefined> =>
    new Promise((resolve) => execFile('git', args, {cwd, encoding: 'utf8', timeout: 2000}, (err, out) => resolve(err ? undefined : out.trim() || undefined)))
  const found = override()
  if (found) return found
  const inside = await git('rev-parse', '--is-inside-work-tree')
  const identity = inside === 'true' ? await Promise.all([git('config', '--get', 'user.name'), git('config', '--get', 'user.email')]) : []
  return fromGit(inside, () => identity) ?? osActor()
}

const override = (): string | undefined => process.env.CLOUDTASER_ACTOR?.trim() || undefined

function fromGit(inside: string | undefined, identity: () => Array<string | undefined>): string | undefined {
  if (inside !== 'true') return undefined
  const [name, email] = identity()
  return name && email ? `${name} <${email}>` : undefined
}

function osActor(): string {
  let user: string
  try {
    user = userInfo().username
  } catch {
    user = process.env.USER ?? 'unknown'
  }
  return `${user}@${hostname()}`
}
