import {runWrapper} from './main.js'

// The executable's entry: also what the single-executable build bundles.
runWrapper().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`${JSON.stringify({level: 'error', component: 'wrapper', event: 'crash', error: err.message})}\n`)
    process.exit(70)
  },
)
