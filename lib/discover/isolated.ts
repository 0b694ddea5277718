import {Worker} from 'node:worker_threads'
import {CloudtaserError, ExitCode} from '../errors.js'
import type {DiscoverJob, DiscoverJobResult} from './job.js'

/**
 * Runs discover in a worker thread whose young generation is capped at 32 MB, for the command
 * lines that go through oclif: the worker loads while oclif does, and oclif's ~40 MB stay out of
 * discover's peak. Listing 10,000 workloads allocates fast enough that V8 grows a main thread's
 * young generation to its maximum (128 MB); Node cannot cap that once the thread runs. Measured
 * when the worker came in: 1.54 s and 208 MB against 1.66 s and 325 MB on the main thread. Since
 * then discover keeps no listed object, and on the main thread without oclif it peaks at ~225 MB
 * while a worker costs ~50 ms to start: the plain command lines run in-process
 * (cli/direct-discover.ts). 32 MB rather than 16: a third less garbage collection.
 */
const spawn = (): Worker => new Worker(new URL('./worker.js', import.meta.url), {resourceLimits: {maxYoungGenerationSizeMb: 32}})

let early: {worker: Worker; failed: boolean} | undefined

/**
 * Starts the worker, and its module loading, while the CLI loads (bin/run.js, for the command
 * lines that go through oclif); discoverIsolated then takes it. Until it has a job the worker
 * does not keep the process alive, so --help or a flag error still exit at once.
 */
export function prestartDiscoverWorker(): void {
  if (early) return
  const started = {worker: spawn(), failed: false}
  started.worker.unref()
  // Until discoverIsolated listens: a worker that failed to load is replaced, and reports again there.
  const fail = (): void => void (started.failed = true)
  started.worker.once('error', fail).once('exit', fail)
  early = started
}

export function discoverIsolated(job: DiscoverJob, onProgress?: (message: string) => void): Promise<DiscoverJobResult> {
  let worker = early && !early.failed ? early.worker : undefined
  if (early) early.worker.removeAllListeners()
  early = undefined
  worker ??= spawn()
  worker.ref()
  return new Promise<DiscoverJobResult>((resolve, reject) => {
    let settled = false
    worker.on('message', (m: {progress?: string; result?: DiscoverJobResult; error?: ReturnType<CloudtaserError['toJSON']> & {stack?: string}}) => {
      if (m.progress !== undefined) return onProgress?.(m.progress)
      settled = true
      if (m.error) {
        const e = m.error
        if (e.code) reject(new CloudtaserError(e.code, e.message, {exitCode: e.exitCode as ExitCode, hint: e.hint, details: e.details}))
        else reject(Object.assign(new Error(e.message), {stack: e.stack}))
      } else {
        resolve(m.result!)
      }
    })
    worker.on('error', (err) => {
      settled = true
      reject(err)
    })
    worker.on('exit', (code) => {
      if (!settled) reject(new CloudtaserError('INTERNAL', `the discover worker stopped (exit ${code}) without a result`, {exitCode: ExitCode.INTERNAL}))
    })
    worker.postMessage(job)
  })
}
