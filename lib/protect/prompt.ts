import {select} from '@inquirer/prompts'
import type {Decision, Preview} from './run.js'

/** Asks per workload; only ever used when stdin is a terminal (the command checks). */
export async function askDecision(p: Preview): Promise<Decision> {
  return select<Decision>({
    message: `Protect ${p.kind} ${p.namespace}/${p.name}?`,
    choices: [
      {name: 'approve: annotate and roll it', value: 'approve'},
      {name: 'skip: record it as skipped', value: 'skip'},
      {name: 'quit: stop here, the rest stays pending', value: 'quit'},
    ],
  })
}
