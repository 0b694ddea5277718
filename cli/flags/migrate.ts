import {Flags} from '@oclif/core'
import {kubeConfigFromFlags, kubeFlags} from './kube.js'
import {openBaoClientFromFlags, openBaoFlags} from './openbao.js'

/**
 * What every `target migrate` command reaches: the cluster (as kubectl) and OpenBao (as the bao
 * CLI), directly. When OpenBao is only reachable through the bridge, the OpenBao connection is
 * what changes (docs/migrate.md); the flags below stay.
 */
export const migrateFlags = {
  ...kubeFlags,
  ...openBaoFlags,
  plan: Flags.string({char: 'p', description: 'The reviewed plan file; the record of each Secret is written into it.', required: true}),
  concurrency: Flags.integer({description: 'Secrets handled in parallel.', default: 8, min: 1, max: 64}),
}

export const secretFilterFlag = Flags.string({description: 'Only this Secret, as NAMESPACE/NAME (repeatable).', multiple: true})

export const migrateConnections = (f: Parameters<typeof kubeConfigFromFlags>[0] & Parameters<typeof openBaoClientFromFlags>[0]) => ({
  kc: kubeConfigFromFlags(f),
  bao: openBaoClientFromFlags(f),
})
