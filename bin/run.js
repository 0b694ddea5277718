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

const args = process.argv.slice(2)
if (args[0] === 's3-proxy' && args[1] === 'run' && !args.some((a) => a === '--help' || a === '-h')) {
  // The S3 proxy sidecar runs for the Pod's lifetime: it starts without oclif (same flags, same
  // service; runtime/s3-proxy/main.ts), which keeps its memory down.
  const {main} = await import('../dist/runtime/s3-proxy/main.js')
  await main(args.slice(2))
} else {
  // Dynamic, so that the version check and the compile cache come before oclif loads.
  const {execute} = await import('@oclif/core')
  await execute({dir: import.meta.url})
}
