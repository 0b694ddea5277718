import {parentPort, workerData} from 'node:worker_threads'
import {isCloudtaserError} from '../errors.js'
import {resolveKubeconfig} from '../kube/kubeconfig.js'
import type {IsolatedJob} from './isolated.js'
import {guessRequest, sameListing} from './early.js'
import {finishDiscovery, listCluster, type DiscoverRequest, type ListedCluster} from './service.js'

// Entry point of the discover worker thread (see isolated.ts). It starts before the CLI has
// parsed its flags: the job comes as the first message, and meanwhile the listing starts on a
// guess from the command line (early.ts). Messages back: {progress} while
// listing, then exactly one {result, text} or {error}.
const post = (m: unknown): void => parentPort!.postMessage(m)

interface EarlyStart {
  guess: DiscoverRequest
  listing: Promise<ListedCluster>
  abort: AbortController
  /** Set once the job says whether progress is wanted. */
  hooks: {progress?: (message: string) => void}
}

function startEarly(argv: string[] | undefined): EarlyStart | undefined {
  const guess = argv && guessRequest(argv)
  if (!guess) return undefined
  let kc
  try {
    kc = resolveKubeconfig({})
  } catch {
    return undefined // no usable kubeconfig: the parsed flags will say which
  }
  const abort = new AbortController()
  const hooks: EarlyStart['hooks'] = {}
  const listing = listCluster(kc, {...guess, signal: abort.signal, onProgress: (m) => hooks.progress?.(m)})
  // A dropped guess is never awaited; its failure (or abort) must not surface.
  listing.catch(() => undefined)
  return {guess, listing, abort, hooks}
}

const early = startEarly((workerData as {argv?: string[]} | undefined)?.argv)

async function run(job: IsolatedJob): Promise<void> {
  try {
    const request = {...job.request, planNeeded: job.withPlan || job.render, onProgress: job.progress ? (progress: string) => post({progress}) : undefined}
    let listed: ListedCluster
    if (early && sameListing(early.guess, job.selection, request)) {
      early.hooks.progress = request.onProgress
      listed = await early.listing
    } else {
      early?.abort.abort()
      listed = await listCluster(resolveKubeconfig(job.selection), request)
    }
    const result = await finishDiscovery(listed, request)
    const text = job.render ? (await import('../plan/new-plan.js')).renderPlan(result.plan!) : undefined
    if (job.withPlan) post({result, text})
    else {
      const {plan: _plan, ...rest} = result
      post({result: rest, text})
    }
  } catch (err) {
    post({error: isCloudtaserError(err) ? err.toJSON() : {message: (err as Error).message ?? String(err), stack: (err as Error).stack}})
  }
}

parentPort!.once('message', (job: IsolatedJob) => void run(job))
