import {harden} from './hardening.js'
import {runWrapper} from './main.js'

// The executable's entry: also what the single-executable build bundles.
const {native, reason} = harden()
runWrapper(process.env, {native, reason}).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`${JSON.stringify({level: 'error', component: 'wrapper', event: 'crash', error: err.message})}\n`)
    process.exit(70)
  },
)
