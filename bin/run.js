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

// `target discover`: the plain command lines run without oclif, in-process
// (cli/direct-discover.ts); for the others, discover's worker thread (lib/discover/isolated.ts)
// starts loading now, side by side with oclif. Hence the dynamic import of @oclif/core, after this.
const [topic, command] = process.argv.slice(2)
const discoverArgs = topic === 'target' && command === 'discover' ? process.argv.slice(4) : topic === 'target:discover' ? process.argv.slice(3) : undefined
let handled = false
if (discoverArgs) {
  handled = await (await import('../dist/cli/direct-discover.js')).discoverDirect(discoverArgs)
  if (!handled) (await import('../dist/lib/discover/isolated.js')).prestartDiscoverWorker()
}
if (!handled) {
  const {execute} = await import('@oclif/core')
  await execute({dir: import.meta.url})
}
