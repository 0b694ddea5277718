import {harden} from './hardening.js'
import {writeLine} from './log.js'
import {runWrapper} from './main.js'

// The executable's entry: also what the single-executable build bundles.
const {native, reason} = harden()
// With the addon, _exit: Node's teardown is ~7 ms of the wrapper's start-to-exit cost for nothing.
const exit = (code: number) => (native?.exitNow ? native.exitNow(code) : process.exit(code))
runWrapper(process.env, {native, reason}).then(
  (code) => exit(code),
  (err: Error) => {
    writeLine(`${JSON.stringify({level: 'error', component: 'wrapper', event: 'crash', error: err.message})}\n`)
    exit(70)
  },
)
