import {Worker} from 'node:worker_threads'
import {CloudtaserError, ExitCode} from '../errors.js'
import type {KubeconfigSelection} from '../kube/kubeconfig.js'
import type {MigrationPlan} from '../plan/types.generated.js'
import type {DiscoverRequest, DiscoverResult} from './service.js'

export interface IsolatedJob {
  selection: KubeconfigSelection
  request: Omit<DiscoverRequest, 'onProgress'>
  progress: boolean
  /** Send the plan object back (for --json). */
  withPlan: boolean
  /** Send the plan back rendered as YAML (to print it). */
  render: boolean
}

export type IsolatedResult = Omit<DiscoverResult, 'plan'> & {plan?: MigrationPlan; text?: string}

/**
 * Runs discover in a worker thread whose young generation is capped at 32 MB. Listing 10,000
 * workloads allocates fast enough that V8 grows the main thread's young generation to its
 * maximum, which alone was about 120 MB of peak RSS (measured: 1.54 s and 208 MB with a 16 MB
 * cap against 1.66 s and 325 MB on the main thread). Node cannot change that limit for the main
 * thread once it runs, hence the worker. 32 MB rather than 16: now that listed objects are not
 * kept, it costs no more RSS and a third less garbage collection (10,000 Deployments, loaded
 * machine: ~550 -> ~380 ms of GC; 64 MB would add ~30 MB of RSS).
 */
const spawn = (argv?: string[]): Worker => new Worker(new URL('./worker.js', import.meta.url), {workerData: {argv}, resourceLimits: {maxYoungGenerationSizeMb: 32}})

let early: {worker: Worker; failed: boolean} | undefined

/**
 * Starts the worker, and its module loading, before the command line is parsed (bin/run.js calls
 * this for `target discover`, with the arguments after it, from which the worker may guess the
 * listing and start it: early.ts); discoverIsolated then takes it. Until it has a job the worker
 * does not keep the process alive, so --help or a flag error still exit at once.
 */
export function prestartDiscoverWorker(argv: string[] = []): void {
  if (early) return
  const started = {worker: spawn(argv), failed: false}
  started.worker.unref()
  // Until discoverIsolated listens: a worker that failed to load is replaced, and reports again there.
  const fail = (): void => void (started.failed = true)
  started.worker.once('error', fail).once('exit', fail)
  early = started
}

export function discoverIsolated(job: IsolatedJob, onProgress?: (message: string) => void): Promise<IsolatedResult> {
  let worker = early && !early.failed ? early.worker : undefined
  if (early) early.worker.removeAllListeners()
  early = undefined
  worker ??= spawn()
  worker.ref()
  return new Promise<IsolatedResult>((resolve, reject) => {
    let settled = false
    worker.on('message', (m: {progress?: string; result?: IsolatedResult; text?: string; error?: ReturnType<CloudtaserError['toJSON']> & {stack?: string}}) => {
      if (m.progress !== undefined) return onProgress?.(m.progress)
      settled = true
      if (m.error) {
        const e = m.error
        if (e.code) reject(new CloudtaserError(e.code, e.message, {exitCode: e.exitCode as ExitCode, hint: e.hint, details: e.details}))
        else reject(Object.assign(new Error(e.message), {stack: e.stack}))
      } else {
        resolve({...m.result!, ...(m.text === undefined ? {} : {text: m.text})})
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
