import {readFileSync} from 'node:fs'

export interface CoreLimit {
  /** Soft and hard RLIMIT_CORE are both 0 now (read back from /proc, not assumed). */
  applied: boolean
  how: 'prlimit' | 'already-zero' | 'unavailable'
  detail?: string
}

/** `Max core file size  0  0  bytes` from /proc/<pid>/limits: [soft, hard] as text. */
export function coreLimitOf(pid: number | 'self' = 'self'): [string, string] | undefined {
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max core file size'))
  const m = line ? /^Max core file size\s+(\S+)\s+(\S+)/.exec(line) : null
  return m ? [m[1]!, m[2]!] : undefined
}

/**
 * A core dump of the wrapper or the app would write secret values to disk. Node has no
 * setrlimit, so util-linux's `prlimit --pid` sets RLIMIT_CORE 0:0 on this process; the child
 * inherits it across fork+exec and, with the hard limit 0, cannot raise it. Where prlimit is
 * missing (minimal images), this reports `unavailable` and the caller logs a warning.
 * With the addon (hardening.ts) setrlimit and PR_SET_DUMPABLE 0 are done natively first, and
 * this finds the limit already zero.
 */
export function disableCoreDumps(pid: number = process.pid): CoreLimit {
  const before = coreLimitOf(pid)
  if (before?.[0] === '0' && before[1] === '0') return {applied: true, how: 'already-zero'}
  // Loaded here, not at the top: with the addon this is never reached, and node:child_process
  // costs the wrapper's start a few milliseconds.
  const {execFileSync} = process.getBuiltinModule('node:child_process')
  for (const bin of ['prlimit', '/usr/bin/prlimit', '/bin/prlimit']) {
    try {
      execFileSync(bin, ['--pid', String(pid), '--core=0:0'], {stdio: ['ignore', 'ignore', 'pipe'], timeout: 5000})
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOENT') continue
      return {applied: false, how: 'unavailable', detail: `prlimit failed: ${(err as Error).message.split('\n')[0]}`}
    }
    const after = coreLimitOf(pid)
    return after?.[0] === '0' && after[1] === '0' ? {applied: true, how: 'prlimit'} : {applied: false, how: 'unavailable', detail: 'prlimit ran but the limit is not 0'}
  }
  return {applied: false, how: 'unavailable', detail: 'prlimit (util-linux) not found'}
}
