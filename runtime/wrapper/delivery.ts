import type {Span} from './kv-scan.js'

/** Where a generation of secret values lives in the wrapper until the child has its copy. */
export type SecretMemoryKind = 'memfd_secret' | 'mlock' | 'mmap' | 'v8-heap'

export interface SecretSet {
  readonly memory: SecretMemoryKind
  /** Why the memory is weaker than memfd_secret (errno names, "no addon"); never a value. */
  readonly detail?: string
  /**
   * Copies the value at `span` of `bytes` in under `name` (a JSON string is unescaped). Returns
   * 'nul' when the value holds a NUL byte, which no environment variable can carry.
   */
  put(name: string, bytes: Buffer, span: Span): 'nul' | undefined
  /** Zero and release what can be; idempotent. */
  wipe(): void
}

/** The running child as the supervisor sees it, however it was started. */
export interface Child {
  readonly pid: number | undefined
  kill(signal: NodeJS.Signals): void
  /** The wrapper's exit code for this child: its own, 128 + signal, or 127 when exec failed. */
  readonly exited: Promise<number>
}

/**
 * How secrets reach the child: the native path (secret memory + posix_spawn from the addon) or
 * the fallback without the addon (V8 strings + child_process).
 */
export interface Delivery {
  readonly spawn: 'posix_spawn' | 'child_process'
  /** A set big enough for `capacity` bytes of NAME=value\0 entries (raw JSON lengths). */
  newSet(capacity: number): SecretSet
  /**
   * Starts `command` with `base` (non-secret variables) plus the set's entries. The native path
   * wipes the set as soon as the child exists: nothing needs the values afterwards (a restart
   * follows a fresh read). The fallback cannot wipe V8 strings and keeps them until replaced.
   */
  launch(command: string[], base: Record<string, string>, set: SecretSet): Child
}
