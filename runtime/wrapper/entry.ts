import {runWrapper} from './main.js'
import {loadNative} from './native/index.js'
import {appPid} from './supervisor.js'

const log = (level: string, event: string, fields: Record<string, unknown>) =>
  process.stderr.write(`${JSON.stringify({ts: new Date().toISOString(), level, component: 'wrapper', event, ...fields})}\n`)

// Before any secret is fetched: no core file, no same-user /proc/<pid>/mem or environ reads
// (PR_SET_DUMPABLE 0), and we adopt orphans. As PID 1 (or subreaper) orphaned grandchildren
// become our zombies; libuv only waits for pids it spawned, so the addon reaps the others.
const {native, from, error} = loadNative()
if (native) {
  const h = native.harden()
  const memfd = native.memfdSecretProbe()
  log(h.dumpable === 0 && h.coreLimit === 0 ? 'info' : 'warn', 'hardening', {addon: from, nonDumpable: h.dumpable === 0, coreLimit0: h.coreLimit === 0, subreaper: h.subreaper === 0, memfdSecret: memfd === 0 ? 'available' : `unavailable (errno ${memfd})`})
  setInterval(() => native.reapOrphans(appPid() ?? 0), 250).unref()
} else {
  log('warn', 'hardening', {addon: 'unavailable', reason: error, nonDumpable: false, orphanReaping: false})
}

// The executable's entry: also what the single-executable build bundles.
runWrapper().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`${JSON.stringify({level: 'error', component: 'wrapper', event: 'crash', error: err.message})}\n`)
    process.exit(70)
  },
)
