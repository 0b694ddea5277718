import {writeSync} from 'node:fs'

type Fields = Record<string, string | number | boolean | undefined>

/**
 * One line straight to fd 2. process.stderr on a pipe (what container runtimes give) is a
 * net.Socket built on first use, a few milliseconds of the wrapper's start; writeSync is also
 * what process.stderr does on Linux anyway (synchronous for files and pipes). A non-blocking fd
 * that is full is retried briefly, then the line goes through process.stderr.
 */
export function writeLine(line: string): void {
  const bytes = Buffer.from(line)
  let at = 0
  for (let spins = 0; at < bytes.length && spins < 1000; ) {
    try {
      at += writeSync(2, bytes, at)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return
      spins++
    }
  }
  if (at < bytes.length) process.stderr.write(bytes.subarray(at))
}

/** JSON lines on stderr (stdout belongs to the app); names, paths, counts and versions only, never a value. */
export const log = (level: 'info' | 'warn' | 'error', event: string, fields: Fields = {}) =>
  writeLine(`${JSON.stringify({ts: new Date().toISOString(), level, component: 'wrapper', event, ...fields})}\n`)
