import {Flags} from '@oclif/core'
import {OpenBaoClient} from '../../lib/openbao/client.js'
import {resolveConnection} from '../../lib/openbao/config.js'

/**
 * How every command reaches OpenBao. Flags win over BAO_* which win over VAULT_*; the token may
 * also come from ~/.vault-token (`bao login`). The old product's --secretstore-* names are aliases.
 * Not `-n`/`--namespace`: kubectl users read those as a Kubernetes namespace.
 */
export const openBaoFlags = {
  'openbao-addr': Flags.string({
    description: 'OpenBao URL (default: $BAO_ADDR, then $VAULT_ADDR).',
    aliases: ['secretstore-address'],
    helpGroup: 'OPENBAO',
  }),
  token: Flags.string({
    description: 'OpenBao token (default: $BAO_TOKEN, $VAULT_TOKEN, then ~/.vault-token). Prefer the environment: flags show in ps.',
    aliases: ['secretstore-token'],
    helpGroup: 'OPENBAO',
  }),
  'ca-cert': Flags.string({description: 'PEM file of the CA that signed OpenBao\'s certificate (default: $BAO_CACERT, then $VAULT_CACERT).', helpGroup: 'OPENBAO'}),
  'bao-namespace': Flags.string({description: 'OpenBao namespace (default: $BAO_NAMESPACE, then $VAULT_NAMESPACE).', helpGroup: 'OPENBAO'}),
  'bao-timeout': Flags.integer({description: 'Seconds per OpenBao request attempt (default: $BAO_CLIENT_TIMEOUT or 30).', min: 1, helpGroup: 'OPENBAO'}),
}

export function openBaoClientFromFlags(flags: {'openbao-addr'?: string; token?: string; 'ca-cert'?: string; 'bao-namespace'?: string; 'bao-timeout'?: number}): OpenBaoClient {
  return new OpenBaoClient(resolveConnection(flags))
}

export const concurrencyFlag = Flags.integer({description: 'OpenBao requests in flight at once.', default: 8, min: 1, max: 64, helpGroup: 'OPENBAO'})
