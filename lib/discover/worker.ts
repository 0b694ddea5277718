import {parentPort} from 'node:worker_threads'
import {isCloudtaserError} from '../errors.js'
import {resolveKubeconfig} from '../kube/kubeconfig.js'
import type {IsolatedJob} from './isolated.js'
import {discover} from './service.js'

// Entry point of the discover worker thread (see isolated.ts). It may start before the CLI has
// parsed its flags: the job comes as the first message. Messages back: {progress} while listing,
// then exactly one {result, text} or {error}.
const post = (m: unknown): void => parentPort!.postMessage(m)

async function run(job: IsolatedJob): Promise<void> {
  try {
    const result = await discover(resolveKubeconfig(job.selection), {...job.request, onProgress: job.progress ? (progress) => post({progress}) : undefined})
    const text = job.render ? (await import('../plan/new-plan.js')).renderPlan(result.plan) : undefined
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
