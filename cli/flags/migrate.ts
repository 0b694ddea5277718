import {Flags} from '@oclif/core'
import {kubeConfigFromFlags, kubeFlags} from './kube.js'
import {openBaoClientFromFlags, openBaoFlags} from './openbao.js'
import {resolveConnectionTimeouts} from '../../lib/openbao/config.js'
import type {BaoClient} from '../../lib/openbao/bao-client.js'
import {openBaoViaBroker} from '../../lib/openbao/via-broker.js'
import type {MigrationPlan} from '../../lib/plan/types.generated.js'

/**
 * What every `target migrate` command reaches: the cluster (as kubectl) and OpenBao, either as
 * the bao CLI does (BAO_ADDR, BAO_TOKEN) or, with --via-broker, from the cluster side through
 * the broker (beacon mode; docs/migrate.md). Only the OpenBao client differs; the run is the same.
 */
export const migrateFlags = {
  ...kubeFlags,
  ...openBaoFlags,
  plan: Flags.string({char: 'p', description: 'The reviewed plan file; the record of each Secret is written into it.', required: true}),
  concurrency: Flags.integer({description: 'Secrets handled in parallel.', default: 8, min: 1, max: 64}),
  'via-broker': Flags.boolean({
    description: 'Reach OpenBao through the broker named by the plan\'s openbao.address (beacon mode), by the apiserver\'s service proxy, logged in as the ServiceAccount cloudtaser-migrator (needs `create serviceaccounts/token` on it, and `source apply-plan --allow-cluster-migrate` on the OpenBao side). No BAO_ADDR or BAO_TOKEN.',
    exclusive: ['openbao-addr', 'token', 'ca-cert'],
    helpGroup: 'OPENBAO',
  }),
}

export const secretFilterFlag = Flags.string({description: 'Only this Secret, as NAMESPACE/NAME (repeatable).', multiple: true})

type MigrateConnectionFlags = Parameters<typeof kubeConfigFromFlags>[0] & Parameters<typeof openBaoClientFromFlags>[0] & {'via-broker'?: boolean; concurrency?: number}

export async function migrateConnections(f: MigrateConnectionFlags, plan: MigrationPlan): Promise<{kc: ReturnType<typeof kubeConfigFromFlags>; bao: BaoClient}> {
  const kc = kubeConfigFromFlags(f)
  if (!f['via-broker']) return {kc, bao: openBaoClientFromFlags(f)}
  return {kc, bao: await openBaoViaBroker(kc, plan, {...resolveConnectionTimeouts(f), concurrency: f.concurrency})}
}
