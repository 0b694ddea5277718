import {spawn} from 'node:child_process'
import {closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {labError} from './errors.js'

/**
 * Child processes of the lab. Each runs in its own process group (detached), so stopping it
 * also stops anything it forked. Unless it is a daemon (`lab up`), it is also tied to this Node
 * process twice over: the kernel sends it SIGKILL when we die however we die (setpriv
 * --pdeathsig), and an exit hook kills its group and removes the lab's directories.
 */
export interface ManagedProcess {
  readonly name: string
  readonly pid: number
  readonly logPath: string
  /** Set once the process has exited (its exit code, or the signal name). */
  exitStatus: string | undefined
  stop(graceMs?: number): Promise<void>
}

export interface SpawnOptions {
  name: string
  command: string
  args: string[]
  logPath: string
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** Survive this process (for `lab up`): no parent-death signal, no exit hook. */
  daemon?: boolean
}

const SETPRIV = '/usr/bin/setpriv'
const liveGroups = new Set<number>()
const liveDirs = new Set<string>()
let hooked = false

export function spawnManaged(options: SpawnOptions): ManagedProcess {
  const log = openSync(options.logPath, 'a')
  const tied = !options.daemon && existsSync(SETPRIV)
  const command = tied ? SETPRIV : options.command
  const args = tied ? ['--pdeathsig', 'KILL', '--', options.command, ...options.args] : options.args
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: ['ignore', log, log],
  })
  closeSync(log)
  if (child.pid === undefined) {
    // spawn reports ENOENT asynchronously; swallow that event, the throw below says it all.
    child.on('error', () => {})
    throw labError('SPAWN_FAILED', `cannot start ${options.name} (${options.command})`)
  }
  const pid = child.pid
  const reaped = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const proc: ManagedProcess = {
    name: options.name,
    pid,
    logPath: options.logPath,
    exitStatus: undefined,
    // Done only once Node has reaped it too: until then the pid lingers as our zombie.
    stop: (graceMs) =>
      stopGroup(pid, graceMs)
        .then(() => Promise.race([reaped, sleep(2000)]))
        .finally(() => liveGroups.delete(pid)),
  }
  child.on('error', (err) => (proc.exitStatus ??= `error: ${err.message}`))
  child.on('exit', (code, signal) => (proc.exitStatus = signal ?? String(code)))
  if (options.daemon) {
    child.unref()
  } else {
    liveGroups.add(pid)
    installHooks()
  }
  return proc
}

/** A directory removed on exit if its owner forgets (a failed test that never reached stop()). */
export function trackDir(dir: string): () => void {
  liveDirs.add(dir)
  installHooks()
  return () => liveDirs.delete(dir)
}

/**
 * Whether any live process remains in the group. Zombies do not count: a daemon's reaper is
 * pid 1, which on some sandboxes reaps only every few seconds.
 */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0)
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
  const stat = procStat(pgid)
  if (stat && stat.state !== 'Z') return true
  // The leader is gone or a zombie: look for any other member still running.
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const other = procStat(Number(entry))
    if (other && other.pgrp === pgid && other.state !== 'Z') return true
  }
  return false
}

/** State and process group from /proc/PID/stat (fields 3 and 5; the name may contain spaces). */
function procStat(pid: number): {state: string; pgrp: number} | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
    return {state: fields[0]!, pgrp: Number(fields[2])}
  } catch {
    return undefined
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal)
  } catch {
    // already gone
  }
}

/** SIGTERM to the group, SIGKILL after graceMs; resolves once no member is left. */
export async function stopGroup(pgid: number, graceMs = 3000): Promise<void> {
  signalGroup(pgid, 'SIGTERM')
  const deadline = Date.now() + graceMs
  while (groupAlive(pgid) && Date.now() < deadline) await sleep(25)
  if (!groupAlive(pgid)) return
  signalGroup(pgid, 'SIGKILL')
  const hard = Date.now() + 5000
  while (groupAlive(pgid) && Date.now() < hard) await sleep(25)
  if (groupAlive(pgid)) throw labError('STOP_FAILED', `process group ${pgid} survived SIGKILL`)
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** The last lines of a log, for error messages that say why a server did not come up. */
export function tail(path: string, lines = 25): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}

function cleanupSync(): void {
  for (const pgid of liveGroups) signalGroup(pgid, 'SIGKILL')
  liveGroups.clear()
  for (const dir of liveDirs) rmSync(dir, {recursive: true, force: true, maxRetries: 3})
  liveDirs.clear()
}

/**
 * Only 'exit' (normal end, process.exit, uncaught exception). No signal handlers on purpose:
 * a listener would take away the signal's default action from the host process (tap's
 * signal-exit, for one, stops re-raising when it sees another listener), so a process killed
 * by a signal relies on the parent-death signal instead, and the next lab sweeps its dirs.
 */
function installHooks(): void {
  if (hooked) return
  hooked = true
  process.on('exit', cleanupSync)
}
