#!/usr/bin/env node
import {enableCompileCache} from 'node:module'

// Node's on-disk compile cache (in the temp directory): from the second run on, the CLI and
// @oclif/core start without compiling their code again (~40 ms of every command's start-up).
enableCompileCache?.()

// `target discover` works in a worker thread (lib/discover/isolated.ts): start it now, so that its
// modules load, and the listing may start, while the CLI's own load. Hence the dynamic import of
// @oclif/core, after this.
const [topic, command] = process.argv.slice(2)
const discoverArgs = topic === 'target' && command === 'discover' ? process.argv.slice(4) : topic === 'target:discover' ? process.argv.slice(3) : undefined
if (discoverArgs) {
  const {prestartDiscoverWorker} = await import('../dist/lib/discover/isolated.js')
  prestartDiscoverWorker(discoverArgs)
}
const {execute} = await import('@oclif/core')

await execute({dir: import.meta.url})
