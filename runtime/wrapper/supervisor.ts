import type {Child} from './delivery.js'

/** Every catchable signal a container runtime or an operator would send; SIGKILL/SIGSTOP cannot be caught. */
export const FORWARDED: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGCONT', 'SIGTSTP', 'SIGTTIN', 'SIGTTOU']

let current: number | undefined
/** The app's pid: the one exit status the orphan reaper must leave to its waiter. */
export const appPid = (): number | undefined => current

/**
 * The child, started by a launch function (native posix_spawn or Node's child_process) with stdio
 * inherited so the app's logs go straight to the container runtime. Signals the wrapper receives
 * go to the child; the wrapper exits with the child's code once the child ends for any reason
 * other than a restart it asked for.
 */
export class Supervisor {
  private child: Child | undefined
  private restarting = false
  private stopped = false
  readonly done: Promise<number>
  private finish!: (code: number) => void
  private readonly handlers = new Map<NodeJS.Signals, () => void>()

  constructor() {
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

  start(launch: () => Child): void {
    const child = launch()
    this.child = child
    current = child.pid
    void child.exited.then((code) => {
      if (this.restarting && !this.stopped) return
      this.end(code)
    })
  }

  /** Stop the child (SIGTERM, SIGKILL after graceMs) and start it again through `launch`; false when stopping instead. */
  async restart(launch: () => Child, graceMs = 10_000): Promise<boolean> {
    const old = this.child
    if (!old || this.stopped) return false
    this.restarting = true
    old.kill('SIGTERM')
    const timer = setTimeout(() => old.kill('SIGKILL'), graceMs)
    const code = await old.exited
    clearTimeout(timer)
    this.restarting = false
    if (this.stopped) {
      this.end(code)
      return false
    }
    this.start(launch)
    return true
  }

  signal(s: NodeJS.Signals): void {
    this.child?.kill(s)
  }

  private end(code: number): void {
    for (const [s, h] of this.handlers) process.off(s, h)
    this.finish(code)
  }
}
