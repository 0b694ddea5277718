import {spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdirSync} from 'node:fs'
import {request} from 'node:http'
import {join} from 'node:path'
import {labError} from './errors.js'
import {makeInstanceDir} from './instance-dir.js'
import {freePort} from './net.js'
import {repoRoot} from './paths.js'
import {spawnManaged, type ManagedProcess} from './process.js'
import {retryOnPortClash, waitReady} from './wait.js'

/**
 * A real S3 server on loopback for tests and benches: versitygw over its POSIX backend
 * (test/s3), buckets as directories under `root`, object metadata as files under `metaDir`, so a
 * test can read every byte the server stores.
 */
export interface S3Server {
  /** http://<host>:<port> (host 127.0.0.1 unless given) */
  endpoint: string
  port: number
  region: string
  accessKeyId: string
  secretAccessKey: string
  /** Object bodies: <root>/<bucket>/<key>. */
  root: string
  /** Object metadata (sidecar files). */
  metaDir: string
  process: ManagedProcess
  stop(): Promise<void>
}

/** test/s3/build.sh owns the cache key, the lock and the build; CLOUDTASER_S3_SERVER_BIN overrides it. */
export function ensureS3ServerBinary(root = repoRoot()): Promise<string> {
  if (process.env.CLOUDTASER_S3_SERVER_BIN) return Promise.resolve(process.env.CLOUDTASER_S3_SERVER_BIN)
  const script = join(root, 'test', 's3', 'build.sh')
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script], {stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c))
    child.stderr.on('data', (c: Buffer) => (stderr += c))
    child.on('error', (err) => reject(labError('BUILD_FAILED', `cannot run ${script}: ${err.message}`, undefined, err)))
    child.on('close', (code) => {
      if (code === 0 && stdout.trim()) return resolve(stdout.trim())
      reject(labError('BUILD_FAILED', `building the test S3 server failed (exit ${code}):\n${stderr.slice(-4000)}`, 'Needs Go on PATH and the Go module proxy; see .ci/install.d/60-s3-proxy.sh.'))
    })
  })
}

export interface S3ServerOptions {
  readyTimeoutMs?: number
  /**
   * The address to listen on, default 127.0.0.1. A Pod on the lab's node reaches the host's end
   * of the node's veth (the lab's BAO_ADDR host), as it reaches OpenBao: pass that one.
   */
  host?: string
}

export async function startS3Server(options: S3ServerOptions = {}): Promise<S3Server> {
  const bin = await ensureS3ServerBinary()
  const host = options.host ?? '127.0.0.1'
  const owned = makeInstanceDir('s3')
  const root = join(owned.dir, 'data')
  const metaDir = join(owned.dir, 'meta')
  mkdirSync(root)
  mkdirSync(metaDir)
  const accessKeyId = `AK${randomBytes(8).toString('hex').toUpperCase()}`
  const secretAccessKey = randomBytes(24).toString('base64url')
  let proc: ManagedProcess | undefined
  try {
    const port = await retryOnPortClash(async () => {
      const p = await freePort()
      proc = spawnManaged({
        name: 's3-server',
        command: bin,
        args: ['-addr', `${host}:${p}`, '-root', root, '-meta', metaDir],
        // Credentials through the environment: argv is world-readable.
        env: {...process.env, ROOT_ACCESS_KEY: accessKeyId, ROOT_SECRET_KEY: secretAccessKey},
        cwd: owned.dir,
        logPath: join(owned.dir, 's3-server.log'),
      })
      try {
        await waitReady(proc, 'an answer on /health', () => healthy(host, p), options.readyTimeoutMs ?? 20_000)
      } catch (err) {
        await proc.stop(0)
        throw err
      }
      return p
    })
    let stopped: Promise<void> | undefined
    return {
      endpoint: `http://${host}:${port}`,
      port,
      region: 'us-east-1',
      accessKeyId,
      secretAccessKey,
      root,
      metaDir,
      process: proc!,
      stop: () => (stopped ??= proc!.stop().finally(() => owned.remove())),
    }
  } catch (err) {
    await proc?.stop(0).catch(() => {})
    owned.remove()
    throw err
  }
}

function healthy(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({host, port, path: '/health', timeout: 1000}, (res) => {
      res.resume()
      resolve(res.statusCode === 200)
    })
    req.on('timeout', () => req.destroy()).on('error', () => resolve(false))
    req.end()
  })
}
