import {isCloudtaserError} from '../lib/errors.js'
import {guessRequest} from '../lib/discover/early.js'
import {discoverSummary, progressWriter} from './render/discover.js'
import {internalError, writeError} from './render/error.js'

/**
 * `target discover` without oclif and in-process, for the command lines early.ts can read on its
 * own (output file, cluster name, path template, mounts, vault address, --json): loading
 * @oclif/core costs ~0.3 s of CPU, and a worker thread ~50 ms to start, on a machine whose two
 * cores discover and the apiserver share. Same job, same output, same errors and exit codes as
 * cli/commands/target/discover.ts (test/lib/discover/discover.test.ts compares both); anything
 * else (help, other flags, a typo) goes through oclif. Returns false when it did not handle the
 * command line.
 */
export async function discoverDirect(argv: string[]): Promise<boolean> {
  const guess = guessRequest(argv)
  if (!guess) return false
  const json = argv.includes('--json')
  const {planNeeded: _planNeeded, ...request} = guess
  const progress = progressWriter(json)
  // Only now: the rest of discover, not needed when oclif takes the command line.
  const {runDiscoverJob} = await import('../lib/discover/job.js')
  try {
    const result = await runDiscoverJob({selection: {}, request, progress: progress !== undefined, withPlan: json, render: !request.output && !json}, progress)
    if (progress) process.stderr.write('\r\x1b[K')
    if (json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
    } else {
      if (result.text !== undefined) process.stdout.write(`${result.text}\n`)
      for (const line of discoverSummary(result)) (result.file ? process.stdout : process.stderr).write(`${line}\n`)
    }
  } catch (err) {
    const error = isCloudtaserError(err) ? err : internalError(err as Error)
    writeError(error, json, (err as Error).stack)
  }
  return true
}
