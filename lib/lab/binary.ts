import {spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync} from 'node:fs'
import {join} from 'node:path'
import {labError} from './errors.js'
import {repoRoot} from './paths.js'

export const BINARY_NAME = 'cloudtaser-controlplane'

/** Inputs of the Go build: a change to any of them means a new cache key. */
function sourceFiles(envDir: string): string[] {
  return readdirSync(envDir)
    .filter((f) => f.endsWith('.go') || f === 'go.mod' || f === 'go.sum')
    .sort()
}

/** Content hash of test/env's Go sources, go.mod and go.sum: the binary's cache key. */
export function sourceHash(root = repoRoot()): string {
  const envDir = join(root, 'test', 'env')
  const h = createHash('sha256')
  for (const f of sourceFiles(envDir)) {
    h.update(f).update('\0').update(readFileSync(join(envDir, f))).update('\0')
  }
  return h.digest('hex').slice(0, 16)
}

export function binaryPath(root = repoRoot()): string {
  return join(root, '.cache', 'controlplane', sourceHash(root), BINARY_NAME)
}

export interface EnsureBinaryOptions {
  root?: string
  /** Where `go build` output goes; inherited by default so a long cold build shows progress. */
  log?: (line: string) => void
}

/**
 * The control-plane binary, built only when the Go sources or go.sum changed.
 * CLOUDTASER_CONTROLPLANE_BIN overrides it. Parallel callers (tap runs test files in parallel)
 * serialise on a lock file; the build writes to a temp name and renames, so a reader never
 * sees a half-written binary.
 */
export async function ensureBinary(options: EnsureBinaryOptions = {}): Promise<string> {
  if (process.env.CLOUDTASER_CONTROLPLANE_BIN) return process.env.CLOUDTASER_CONTROLPLANE_BIN
  const root = options.root ?? repoRoot()
  const bin = binaryPath(root)
  if (existsSync(bin)) return bin
  const dir = join(bin, '..')
  mkdirSync(dir, {recursive: true})
  const release = await lock(join(dir, 'build.lock'))
  try {
    if (existsSync(bin)) return bin
    const tmp = `${bin}.tmp-${process.pid}`
    await goBuild(join(root, 'test', 'env'), tmp, options.log)
    renameSync(tmp, bin)
    return bin
  } finally {
    release()
  }
}

function goBuild(envDir: string, out: string, log?: (line: string) => void): Promise<void> {
  const args = ['build', '-trimpath', '-ldflags=-s -w', '-o', out, '.']
  const env = {...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '-mod=mod', CGO_ENABLED: '0'}
  return new Promise((resolve, reject) => {
    const child = spawn('go', args, {cwd: envDir, env, stdio: ['ignore', 'pipe', 'pipe']})
    let output = ''
    const collect = (chunk: Buffer) => {
      const text = chunk.toString()
      output += text
      if (log) for (const line of text.split('\n')) if (line) log(line)
    }
    child.stdout.on('data', collect)
    child.stderr.on('data', collect)
    child.on('error', (err) =>
      reject(labError('BUILD_FAILED', `cannot run go: ${err.message}`, 'Install Go (see .ci/install.d/20-controlplane.sh).', err)),
    )
    child.on('close', (code) => {
      if (code === 0) return resolve()
      rmSync(out, {force: true})
      reject(labError('BUILD_FAILED', `go build of test/env failed (exit ${code}):\n${output.slice(-4000)}`, 'Check the Go toolchain version against test/env/go.mod.'))
    })
  })
}

/** An exclusive lock file holding the owner's pid; a lock whose owner died is taken over. */
async function lock(path: string): Promise<() => void> {
  for (;;) {
    try {
      const fd = openSync(path, 'wx')
      writeSync(fd, String(process.pid))
      closeSync(fd)
      return () => rmSync(path, {force: true})
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      let owner = 0
      let age = 0
      try {
        owner = Number(readFileSync(path, 'utf8').trim() || '0')
        age = Date.now() - statSync(path).mtimeMs
      } catch {
        continue // released between our open and our read: try again at once
      }
      // A lock younger than 2 s may be one whose owner has not written its pid yet.
      if (!alive(owner) && age > 2000) rmSync(path, {force: true})
      else await new Promise((r) => setTimeout(r, 500))
    }
  }
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
