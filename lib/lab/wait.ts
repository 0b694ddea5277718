import {labError} from './errors.js'
import {sleep, tail, type ManagedProcess} from './process.js'

/**
 * Polls `check` until it returns true. Fails at once, with the log's tail, if the process
 * exits meanwhile; a log saying the port was taken becomes LAB_PORT_IN_USE so the caller can
 * retry on fresh ports.
 */
export async function waitReady(proc: ManagedProcess, what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = ''
  for (;;) {
    if (proc.exitStatus !== undefined) {
      const log = tail(proc.logPath)
      if (/address already in use/i.test(log)) throw labError('PORT_IN_USE', `${proc.name}: a port was taken before it could bind`)
      throw labError('EXITED', `${proc.name} exited (${proc.exitStatus}) before ${what}; log ${proc.logPath}:\n${log}`)
    }
    try {
      if (await check()) return
    } catch (err) {
      last = (err as Error).message
    }
    if (Date.now() > deadline) {
      throw labError('TIMEOUT', `${proc.name}: no ${what} after ${timeoutMs} ms${last ? ` (last error: ${last})` : ''}; log ${proc.logPath}:\n${tail(proc.logPath)}`)
    }
    await sleep(100)
  }
}

/** Runs `attempt` again (fresh ports) when it failed only because a port was taken. */
export async function retryOnPortClash<T>(attempt: () => Promise<T>, tries = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt()
    } catch (err) {
      if (i >= tries || (err as {code?: string}).code !== 'LAB_PORT_IN_USE') throw err
    }
  }
}
