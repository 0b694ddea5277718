import {spawn} from 'node:child_process'
import {join} from 'node:path'
import {labError} from './errors.js'
import {repoRoot} from './paths.js'

export interface EnsureBinaryOptions {
  root?: string
  /** Receives `go build`'s output line by line (a cold build takes minutes). */
  log?: (line: string) => void
}

/**
 * The control-plane binary, built only when test/env's Go sources or go.sum changed.
 * test/env/build.sh owns the cache key, the lock and the build, so the install step and the
 * harness can never disagree about them. CLOUDTASER_CONTROLPLANE_BIN overrides it.
 */
export function ensureBinary(options: EnsureBinaryOptions = {}): Promise<string> {
  if (process.env.CLOUDTASER_CONTROLPLANE_BIN) return Promise.resolve(process.env.CLOUDTASER_CONTROLPLANE_BIN)
  const script = join(options.root ?? repoRoot(), 'test', 'env', 'build.sh')
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script], {stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c))
    child.stderr.on('data', (c: Buffer) => {
      stderr += c
      if (options.log) for (const line of c.toString().split('\n')) if (line) options.log(line)
    })
    child.on('error', (err) => reject(labError('BUILD_FAILED', `cannot run ${script}: ${err.message}`, undefined, err)))
    child.on('close', (code) => {
      if (code === 0 && stdout.trim()) return resolve(stdout.trim())
      reject(
        labError(
          'BUILD_FAILED',
          `building the control plane failed (exit ${code}):\n${stderr.slice(-4000)}`,
          'Needs Go >= the version in test/env/go.mod on PATH and the Go module proxy; see .ci/install.d/20-controlplane.sh.',
        ),
      )
    })
  })
}

export function alive(pid: number): boolean {
  if (!pid) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
