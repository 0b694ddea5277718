import {select} from '@inquirer/prompts'
import type {Decision, Preview, WorkloadRef} from './run.js'

/** One question per item (workload, Secret); only ever asked when stdin is a terminal (cli/flags/approval.ts checks). */
export const ask = (message: string, approve: string, skip: string): Promise<Decision> =>
  select<Decision>({
    message,
    choices: [
      {name: `approve: ${approve}`, value: 'approve'},
      {name: `skip: ${skip}`, value: 'skip'},
      {name: 'quit: stop here, the rest stays as it is', value: 'quit'},
    ],
  })

export const askDecision = (p: Preview): Promise<Decision> => ask(`Protect ${p.kind} ${p.namespace}/${p.name}?`, 'annotate and roll it', 'record it as skipped')

export const askUnprotect = (p: WorkloadRef & {restored: number}): Promise<Decision> =>
  ask(`Unprotect ${p.kind} ${p.namespace}/${p.name} (${p.restored} Secret reference(s) back)?`, 'restore and roll it', 'leave it protected')
