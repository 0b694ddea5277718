#!/usr/bin/env node
import * as nodeModule from 'node:module'

// package.json asks for Node 22.12+ or 24; an older one is told so instead of failing somewhere.
const [major, minor] = process.versions.node.split('.').map(Number)
if (major < 22 || (major === 22 && minor < 12) || major === 23) {
  process.stderr.write(`cloudtaser needs Node.js 22.12+ or 24 (this is ${process.version}); \`npx cloudtaser\` from the repository uses the pinned one.\n`)
  process.exit(2)
}

// Node's on-disk compile cache (in the temp directory): from the second run on, the CLI and
// @oclif/core start without compiling their code again (~40 ms of every command's start-up).
nodeModule.enableCompileCache?.()

// `target discover` works in a worker thread (lib/discover/isolated.ts): start it now. When its
// command line lets it guess the listing (lib/discover/early.ts), it starts listing at once and
// the command runs without oclif (cli/direct-discover.ts): on two cores shared with the
// apiserver, oclif's start-up was a fifth of discover's CPU. Anything else loads oclif, then
// hands the parsed flags to the worker. Hence the dynamic import of @oclif/core, after this.
const [topic, command] = process.argv.slice(2)
const discoverArgs = topic === 'target' && command === 'discover' ? process.argv.slice(4) : topic === 'target:discover' ? process.argv.slice(3) : undefined
let handled = false
if (discoverArgs) {
  const [{prestartDiscoverWorker}, {discoverDirect}] = await Promise.all([import('../dist/lib/discover/isolated.js'), import('../dist/cli/direct-discover.js')])
  prestartDiscoverWorker(discoverArgs)
  handled = await discoverDirect(discoverArgs)
}
if (!handled) {
  const {execute} = await import('@oclif/core')
  await execute({dir: import.meta.url})
}
