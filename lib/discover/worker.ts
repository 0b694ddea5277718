import {parentPort} from 'node:worker_threads'
import {isCloudtaserError} from '../errors.js'
import {runDiscoverJob, type DiscoverJob} from './job.js'

// Entry point of the discover worker thread (see isolated.ts). It loads while the CLI loads; the
// job comes as the first message. Messages back: {progress} while listing, then exactly one
// {result} or {error}.
const post = (m: unknown): void => parentPort!.postMessage(m)

parentPort!.once('message', (job: DiscoverJob) => {
  runDiscoverJob(job, (progress) => post({progress})).then(
    (result) => post({result}),
    (err: unknown) => post({error: isCloudtaserError(err) ? err.toJSON() : {message: (err as Error).message ?? String(err), stack: (err as Error).stack}}),
  )
})
