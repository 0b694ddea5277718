import {existsSync, unlinkSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'

/** The N-API addon (native/addon.c). Results are 0 for success or an errno unless said otherwise. */
export interface Native {
  harden(): {dumpable: number; coreLimit: number; subreaper: number}
  reapOrphans(keepPid: number): number
  memfdSecretProbe(): number
  /** Memory for one generation of secrets: memfd_secret, else mlock'ed anonymous memory, else plain (still no-dump, no-fork). */
  storeCreate(capacity: number): {handle: number; kind?: StoreKind; memfdErrno?: number; mlockErrno?: number; errno?: number}
  /** Copies buffer[start, end) in as NAME=value (JSON-unescaped when isJsonString). 0, or PUT_* below. */
  storePut(handle: number, name: string, buffer: Buffer, start: number, end: number, isJsonString: boolean): number
  storeWipe(handle: number): void
  /** posix_spawnp with envp = baseEnv + the store's entries (store -1: none); onExit(code, signal): code -1 when killed. */
  spawn(file: string, argv: string[], baseEnv: string[], store: number, onExit: (code: number, signal: number) => void): {slot: number; pid: number; pidfd: 0 | 1} | {errno: number}
  signal(slot: number, signo: number): number
  release(slot: number): void
  /** Wipe every store and _exit(code), skipping Node's teardown. Absent in addons built before it. */
  exitNow?(code: number): never
  /**
   * One blocking HTTP/1.1 exchange (native/http.c): caPem '' for plain TCP, else TLS trusting
   * exactly those certificates. The request must ask for `connection: close`. Absent in older addons.
   */
  httpExchange?(host: string, port: number, caPem: string, request: Buffer, timeoutMs: number): {bytes: Buffer} | {code: string; message: string}
}

export type StoreKind = 'memfd_secret' | 'mlock' | 'mmap'
export const PUT_FULL = 1
export const PUT_ESCAPE = 2
export const PUT_NUL = 3

export const ADDON_ASSET = 'cloudtaser-native.node'

/**
 * Where the addon comes from, first hit wins: CLOUDTASER_NATIVE_ADDON (tests), a file next to the
 * executable, or the copy embedded in the single executable, written to /dev/shm (memory) only
 * long enough to dlopen it and then unlinked. It is code, never a secret. Without it the wrapper
 * runs and says what it lacks.
 */
export function loadNative(env: NodeJS.ProcessEnv = process.env): {native?: Native; from?: string; error?: string} {
  const tryLoad = (path: string) => {
    const m = {exports: {}} as {exports: Native}
    process.dlopen(m, path)
    return m.exports
  }
  try {
    const explicit = env.CLOUDTASER_NATIVE_ADDON
    if (explicit) return {native: tryLoad(explicit), from: explicit}
    const beside = join(dirname(process.execPath), ADDON_ASSET)
    if (existsSync(beside)) return {native: tryLoad(beside), from: beside}
    // getBuiltinModule: works in the ESM source and in the CommonJS bundle alike.
    const sea = process.getBuiltinModule('node:sea') as unknown as {isSea(): boolean; getRawAsset(k: string): ArrayBuffer}
    if (!sea.isSea()) return {error: 'not built in (run from source without CLOUDTASER_NATIVE_ADDON)'}
    const tmp = join(existsSync('/dev/shm') ? '/dev/shm' : '/tmp', `cloudtaser-native-${process.pid}.node`)
    writeFileSync(tmp, Buffer.from(sea.getRawAsset(ADDON_ASSET)), {mode: 0o500})
    try {
      return {native: tryLoad(tmp), from: 'embedded'}
    } finally {
      unlinkSync(tmp)
    }
  } catch (err) {
    return {error: (err as Error).message}
  }
}
