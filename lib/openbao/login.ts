import {CloudtaserError, ExitCode} from '../errors.js'
import type {BaoClient} from './bao-client.js'
import type {ConnectionSettings} from './config.js'

export interface KubernetesLogin {
  client: BaoClient
  /** Seconds the token lives (renewable up to the role's token_max_ttl). */
  leaseSeconds: number
  policies: string[]
}

/**
 * For daemons (operator, S3 proxy) and the migrator: exchange a ServiceAccount JWT for an OpenBao token through a
 * kubernetes-auth role, and return a client that uses it. Same TLS, namespace, retries, errors.
 * `connect` makes the clients: the caller picks the transport (the migrator's goes through the
 * apiserver's service proxy).
 */
export async function loginKubernetes(
  settings: Omit<ConnectionSettings, 'token' | 'tokenSource'>,
  login: {mount: string; role: string; jwt: string},
  connect: (settings: ConnectionSettings) => BaoClient,
): Promise<KubernetesLogin> {
  const anonymous = connect({...settings, token: '', tokenSource: 'flag'})
  try {
    const r = await anonymous.call<{auth?: {client_token?: string; lease_duration?: number; token_policies?: string[]}; errors?: string[]}>(
      'POST',
      `auth/${login.mount}/login`,
      {body: {role: login.role, jwt: login.jwt}, accept: [400, 403]},
    )
    if (r.status !== 200) {
      throw new CloudtaserError('BAO_LOGIN_REFUSED', `kubernetes login to auth/${login.mount} as role ${login.role} refused: ${(r.body?.errors ?? []).join('; ') || `HTTP ${r.status}`}`, {
        exitCode: ExitCode.AUTH,
        hint: 'The role binds specific ServiceAccounts and namespaces; check them with `bao read auth/<mount>/role/<role>`.',
      })
    }
    const auth = r.body?.auth
    if (!auth?.client_token) throw new Error(`auth/${login.mount}/login returned no token`)
    return {
      client: connect({...settings, token: auth.client_token, tokenSource: 'flag'}),
      leaseSeconds: auth.lease_duration ?? 0,
      policies: auth.token_policies ?? [],
    }
  } finally {
    await anonymous.close()
  }
}
