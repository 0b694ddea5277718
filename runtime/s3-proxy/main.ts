// `cloudtaser s3-proxy run` without oclif: bin/run.js imports this module instead of @oclif/core
// for that command line (the sidecar's), which keeps the command framework out of a long-lived
// process. Flags (options.ts), the service (service.ts runS3Proxy) and error reporting
// (lib/report-error.ts) are the ones the oclif command uses.
import {isCloudtaserError} from '../../lib/errors.js'
import {internalError, writeError} from '../../lib/report-error.js'
import {parseS3ProxyArgs} from './options.js'
import {runS3Proxy} from './service.js'

/** argv: what follows `s3-proxy run`. */
export async function main(argv: string[]): Promise<void> {
  const json = argv.includes('--json')
  try {
    const result = await runS3Proxy(parseS3ProxyArgs(argv), process.env)
    if (json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
  } catch (err) {
    writeError(isCloudtaserError(err) ? err : internalError(err as Error), json, (err as Error).stack)
  }
}
