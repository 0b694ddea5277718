#!/usr/bin/env node
import {enableCompileCache} from 'node:module'

// Node's on-disk compile cache (in the temp directory): from the second run on, the CLI and
// @oclif/core start without compiling their code again (~40 ms of every command's start-up).
enableCompileCache?.()

// `target discover` works in a worker thread (lib/discover/isolated.ts): start it now. When its
// command line lets it guess the listing (lib/discover/early.ts), it starts listing before the
// CLI has parsed the flags, and the CLI loads once it has (the machine may have two cores for the
// worker, the CLI and the apiserver); otherwise the two load side by side. Hence the dynamic
// import of @oclif/core, after this.
const [topic, command] = process.argv.slice(2)
const discoverArgs = topic === 'target' && command === 'discover' ? process.argv.slice(4) : topic === 'target:discover' ? process.argv.slice(3) : undefined
if (discoverArgs) {
  const [{prestartDiscoverWorker}, {guessRequest}] = await Promise.all([import('../dist/lib/discover/isolated.js'), import('../dist/lib/discover/early.js')])
  const started = prestartDiscoverWorker(discoverArgs)
  if (guessRequest(discoverArgs)) await started
}
const {execute} = await import('@oclif/core')

await execute({dir: import.meta.url})
