import {gitOutput as git} from '../git.js'
import type {GitProvenance} from '../plan/types.generated.js'

/** Where the plan was written, when that is a Git checkout; credentials never leave the URL. Runs while discover lists. */
export async function gitProvenance(cwd: string): Promise<GitProvenance | undefined> {
  if ((await git(cwd, 'rev-parse', '--is-inside-work-tree')) !== 'true') return undefined
  const [remoteUrl, commit, branch] = await Promise.all([git(cwd, 'config', '--get', 'remote.origin.url'), git(cwd, 'rev-parse', 'HEAD'), git(cwd, 'symbolic-ref', '--short', '-q', 'HEAD')])
  const remote = remoteUrl?.replace(/\/\/[^@/]+@/, '//')
  const out: GitProvenance = {...(remote ? {repository: remote} : {}), ...(commit ? {commit} : {}), ...(branch ? {branch} : {})}
  return Object.keys(out).length > 0 ? out : undefined
}
