import {spawn, type ChildProcess} from 'node:child_process'
import {constants} from 'node:os'

/** Every catchable signal a container runtime or an operator would send; SIGKILL/SIGSTOP cannot be caught. */
export const FORWARDED: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGCONT', 'SIGTSTP', 'SIGTTIN', 'SIGTTOU']

let current: number | undefined
/** The app's pid: the one exit status the orphan reaper must leave to libuv. */
export const appPid = (): number | undefined => current

export const exitCodeOf = (code: number | null, signal: NodeJS.Signals | null): number =>
  code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0)

/**
 * The child: spawned (Node's fork+exec) with exactly `env`, stdio inherited so the app's logs go
 * straight to the container runtime. Signals the wrapper receives go to the child; the wrapper
 * exits with the child's code once the child ends for any reason other than a restart it asked for.
 */
export class Supervisor {
  private child: ChildProcess | undefined
  private restarting = false
  private stopped = false
  readonly done: Promise<number>
  private finish!: (code: number) => void
  private readonly handlers = new Map<NodeJS.Signals, () => void>()

  constructor(private readonly command: string[]) {
    this.done = new Promise((resolve) => (this.finish = resolve))
    for (const s of FORWARDED) {
      const h = () => {
        // A termination signal during a restart still has to stop everything.
        if (s === 'SIGTERM' || s === 'SIGINT' || s === 'SIGQUIT') this.stopped = true
        this.child?.kill(s)
      }
      this.handlers.set(s, h)
      process.on(s, h)
    }
  }

  get pid(): number | undefined {
    return this.child?.pid
  }

  start(env: Record<string, string>): void {
    const [file, ...args] = this.command
    const child = spawn(file!, args, {env, stdio: 'inherit'})
    this.child = child
    current = child.pid
    child.once('error', (err) => {
      process.stderr.write(`${JSON.stringify({level: 'error', component: 'wrapper', event: 'exec_failed', command: file, error: err.message})}\n`)
      this.end(127)
    })
    child.once('exit', (code, signal) => {
      if (this.restarting && !this.stopped) return
      this.end(exitCodeOf(code, signal))
    })
  }

  /** Stop the child (SIGTERM, SIGKILL after graceMs) and start it again with a new environment. */
  async restart(env: Record<string, string>, graceMs = 10_000): Promise<void> {
    const old = this.child
    if (!old || this.stopped) return
    this.restarting = true
    const exited = new Promise<void>((r) => old.once('exit', () => r()))
    old.kill('SIGTERM')
    const timer = setTimeout(() => old.kill('SIGKILL'), graceMs)
    await exited
    clearTimeout(timer)
    this.restarting = false
    if (this.stopped) return this.end(exitCodeOf(old.exitCode, old.signalCode))
    this.start(env)
  }

  signal(s: NodeJS.Signals): void {
    this.child?.kill(s)
  }

  private end(code: number): void {
    for (const [s, h] of this.handlers) process.off(s, h)
    this.finish(code)
  }
}
