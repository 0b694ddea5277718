import {execFileSync} from 'node:child_process'
import type {GitProvenance} from '../plan/types.generated.js'

const git = (cwd: string, ...args: string[]): string | undefined => {
  try {
    return execFileSync('git', args, {cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 2000}).trim() || undefined
  } catch {
    return undefined
  }
}

/** Where the plan was written, when that is a Git checkout; credentials never leave the URL. */
export function gitProvenance(cwd: string): GitProvenance | undefined {
  if (git(cwd, 'rev-parse', '--is-inside-work-tree') !== 'true') return undefined
  const remote = git(cwd, 'config', '--get', 'remote.origin.url')?.replace(/\/\/[^@/]+@/, '//')
  const commit = git(cwd, 'rev-parse', 'HEAD')
  const branch = git(cwd, 'symbolic-ref', '--short', '-q', 'HEAD')
  const out: GitProvenance = {...(remote ? {repository: remote} : {}), ...(commit ? {commit} : {}), ...(branch ? {branch} : {})}
  return Object.keys(out).length > 0 ? out : undefined
}
