import {Flags} from '@oclif/core'
import {openBaoFlags} from './openbao.js'

/**
 * Which cluster `source register`/`deregister` act on, and where its registration lives. The
 * original product's flag names (--secretstore-address/--secretstore-token, before them
 * --vault-address/--vault-token) keep working here, where its documentation uses them.
 */
export const clusterFlags = {
  fingerprint: Flags.string({description: 'The cluster\'s fingerprint: its kube-system namespace UID, as `cloudtaser target fingerprint` prints it.'}),
  plan: Flags.string({description: 'Take the fingerprint from this reviewed plan\'s metadata.cluster (the one file that crosses an air gap).'}),
  'no-namespace': Flags.boolean({
    description: 'Do not create an OpenBao namespace per cluster (servers without namespaces): the cluster gets its own KV mount cloudtaser-<id> in the token\'s namespace instead.',
  }),
}

export const registerOpenBaoFlags = {
  ...openBaoFlags,
  'openbao-addr': {...openBaoFlags['openbao-addr'], aliases: ['secretstore-address', 'vault-address']},
  token: {...openBaoFlags.token, aliases: ['secretstore-token', 'vault-token']},
}
