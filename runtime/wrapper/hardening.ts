import {log} from './log.js'
import {loadNative, type Native} from './native/index.js'
import {appPid} from './supervisor.js'

const errno = (n: number) => (n === 0 ? 'available' : `unavailable (errno ${n})`)

/**
 * Before any secret is fetched: no core file, no same-user /proc/<pid>/mem or environ reads
 * (PR_SET_DUMPABLE 0), and we adopt orphans. As PID 1 (or subreaper) orphaned grandchildren
 * become our zombies; libuv and the addon's waiter only wait for the app's pid, so the addon
 * reaps the others. Returns the addon for secret delivery, or why there is none.
 */
export function harden(env: NodeJS.ProcessEnv = process.env): {native?: Native; reason?: string} {
  const {native, from, error} = loadNative(env)
  if (!native) {
    log('warn', 'hardening', {addon: 'unavailable', reason: error, nonDumpable: false, orphanReaping: false})
    return {reason: `no addon: ${error}`}
  }
  const h = native.harden()
  log(h.dumpable === 0 && h.coreLimit === 0 ? 'info' : 'warn', 'hardening', {
    addon: from,
    nonDumpable: h.dumpable === 0,
    coreLimit0: h.coreLimit === 0,
    subreaper: h.subreaper === 0,
    memfdSecret: errno(native.memfdSecretProbe()),
  })
  setInterval(() => native.reapOrphans(appPid() ?? 0), 250).unref()
  // An addon from before the secret store (an old file next to the executable): hardening only.
  if (typeof native.storeCreate !== 'function' || typeof native.spawn !== 'function') return {reason: 'addon without a secret store'}
  return {native}
}
