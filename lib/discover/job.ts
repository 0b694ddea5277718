import {resolveKubeconfig, type KubeconfigSelection} from '../kube/kubeconfig.js'
import type {MigrationPlan} from '../plan/types.generated.js'
import {finishDiscovery, listCluster, type DiscoverRequest, type DiscoverResult} from './service.js'

/** One `target discover` as the command line asks for it, run in-process or in the worker (isolated.ts). */
export interface DiscoverJob {
  selection: KubeconfigSelection
  request: Omit<DiscoverRequest, 'onProgress'>
  progress: boolean
  /** Return the plan object (for --json). */
  withPlan: boolean
  /** Return the plan rendered as YAML (to print it). */
  render: boolean
}

export type DiscoverJobResult = Omit<DiscoverResult, 'plan'> & {plan?: MigrationPlan; text?: string}

export async function runDiscoverJob(job: DiscoverJob, onProgress?: (message: string) => void): Promise<DiscoverJobResult> {
  const request = {...job.request, planNeeded: job.withPlan || job.render, onProgress: job.progress ? onProgress : undefined}
  const {plan, ...result} = await finishDiscovery(await listCluster(resolveKubeconfig(job.selection), request), request)
  const text = job.render ? (await import('../plan/new-plan.js')).renderPlan(plan!) : undefined
  return {...result, ...(job.withPlan ? {plan} : {}), ...(text === undefined ? {} : {text})}
}
