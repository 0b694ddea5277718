import {constants} from 'node:os'
import {log} from './log.js'
import {type Child, type Delivery, type SecretSet} from './delivery.js'
import type {Span} from './kv-scan.js'
import {PUT_FULL, PUT_NUL, type Native} from './native/index.js'

const errnoName = (n: number) => Object.entries(constants.errno).find(([, v]) => v === n)?.[0] ?? `errno ${n}`

/** Values in memory the addon mapped outside the V8 heap; JS only ever holds the handle. */
class NativeSecretSet implements SecretSet {
  readonly memory
  readonly detail
  handle: number

  constructor(
    private readonly native: Native,
    capacity: number,
  ) {
    const r = native.storeCreate(capacity)
    if (r.handle < 0 || !r.kind) throw new Error(`no memory for the secret store: ${errnoName(r.errno ?? 0)}`)
    this.handle = r.handle
    this.memory = r.kind
    const why = [r.memfdErrno ? `memfd_secret: ${errnoName(r.memfdErrno)}` : '', r.mlockErrno ? `mlock: ${errnoName(r.mlockErrno)}` : ''].filter(Boolean)
    this.detail = why.length > 0 ? why.join(', ') : undefined
  }

  put(name: string, bytes: Buffer, span: Span): 'nul' | undefined {
    const rc = this.native.storePut(this.handle, name, bytes, span.start, span.end, span.isString)
    if (rc === PUT_NUL) return 'nul'
    // The scanner validated escapes and the caller sized the store: either is a bug, not input.
    if (rc !== 0) throw new Error(`secret store rejected ${name}: ${rc === PUT_FULL ? 'full' : 'bad escape'}`)
    return undefined
  }

  wipe(): void {
    if (this.handle >= 0) this.native.storeWipe(this.handle)
    this.handle = -1
  }
}

/**
 * The native path: the addon spawns with posix_spawnp and an envp whose secret entries point
 * into the store, then a waiter thread reports the exit. No value passes through V8.
 */
export function nativeDelivery(native: Native): Delivery {
  return {
    spawn: 'posix_spawn',
    newSet: (capacity) => new NativeSecretSet(native, capacity),
    launch(command, base, set) {
      const s = set as NativeSecretSet
      const [file] = command
      let done!: (code: number) => void
      const exited = new Promise<number>((r) => (done = r))
      let r: ReturnType<Native['spawn']>
      try {
        r = native.spawn(
          file!,
          command,
          Object.entries(base).map(([k, v]) => `${k}=${v}`),
          s.handle,
          (code, signal) => {
            if ('slot' in r) native.release(r.slot)
            done(code >= 0 ? code : 128 + signal)
          },
        )
      } finally {
        s.wipe()
      }
      if ('errno' in r) {
        log('error', 'exec_failed', {command: file, error: `spawn ${file} ${errnoName(r.errno)}`})
        return {pid: undefined, kill: () => undefined, exited: Promise.resolve(127)}
      }
      const {slot, pid} = r
      return {pid, kill: (sig) => void native.signal(slot, constants.signals[sig]), exited} satisfies Child
    },
  }
}
