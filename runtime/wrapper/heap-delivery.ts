import {constants} from 'node:os'
import {log} from './log.js'
import {type Child, type Delivery, type SecretSet} from './delivery.js'
import type {Span} from './kv-scan.js'

export const exitCodeOf = (code: number | null, signal: NodeJS.Signals | null): number =>
  code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0)

/** Values as JavaScript strings: what the wrapper can do without its addon. */
export class HeapSecretSet implements SecretSet {
  readonly memory = 'v8-heap' as const
  env: Record<string, string> = {}
  constructor(readonly detail: string) {}

  put(name: string, bytes: Buffer, span: Span): 'nul' | undefined {
    const value = span.isString ? (JSON.parse(bytes.toString('utf8', span.start - 1, span.end + 1)) as string) : bytes.toString('utf8', span.start, span.end)
    if (value.includes('\0')) return 'nul'
    this.env[name] = value
    return undefined
  }

  /** Drops the references; the strings stay in the heap until collected, and freed memory is not zeroed. */
  wipe(): void {
    this.env = {}
  }
}

/** The fallback: Node's child_process (fork+exec by libuv) with the strings as its env. */
export function heapDelivery(detail: string): Delivery {
  return {
    spawn: 'child_process',
    newSet: () => new HeapSecretSet(detail),
    launch(command, base, set) {
      // Loaded on use: the native path never needs node:child_process (start-up time).
      const {spawn} = process.getBuiltinModule('node:child_process')
      const [file, ...args] = command
      const child = spawn(file!, args, {env: {...base, ...(set as HeapSecretSet).env}, stdio: 'inherit'})
      const exited = new Promise<number>((resolve) => {
        child.once('error', (err) => {
          log('error', 'exec_failed', {command: file, error: err.message})
          resolve(127)
        })
        child.once('exit', (code, signal) => resolve(exitCodeOf(code, signal)))
      })
      return {pid: child.pid, kill: (s) => void child.kill(s), exited} satisfies Child
    },
  }
}
