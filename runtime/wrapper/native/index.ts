import {existsSync, unlinkSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'

/** The N-API addon (native/addon.c). Every result is 0 for success or an errno. */
export interface Native {
  harden(): {dumpable: number; coreLimit: number; subreaper: number}
  reapOrphans(keepPid: number): number
  memfdSecretProbe(): number
}

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
