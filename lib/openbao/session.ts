import {readFileSync} from 'node:fs'
import {CloudtaserError, ExitCode} from '../errors.js'
import type {BaoClient} from './bao-client.js'
import {OpenBaoClient} from './client.js'
import type {ConnectionSettings} from './config.js'
import {loginKubernetes} from './login.js'

/** Where a daemon's ServiceAccount token is mounted in a Pod (kept fresh by the kubelet). */
export const SA_TOKEN_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/token'

/** How a daemon logs in: a token given to it (tests, workstations), or its ServiceAccount token through kubernetes auth. */
export type BaoAuth = {method: 'token'} | {method: 'kubernetes'; mount: string; role: string; jwtFile: string}

export type SessionSettings = Omit<ConnectionSettings, 'token' | 'tokenSource'> & {token?: string}

export interface BaoSession {
  /** A client with a live token: logs in on first use and again at half the token's lease. */
  client(): Promise<BaoClient>
  /** Forget the token (it was refused): the next client() logs in again. */
  invalidate(): void
  close(): Promise<void>
}

/**
 * One OpenBao session for a long-running daemon (the operator, the S3 proxy). The token file is
 * read at every login: projected ServiceAccount tokens are rotated by the kubelet.
 */
export function baoSession(bao: SessionSettings, auth: BaoAuth, connect: (s: ConnectionSettings) => BaoClient = (s) => new OpenBaoClient(s)): BaoSession {
  let current: {client: BaoClient; until: number} | undefined
  let pending: Promise<BaoClient> | undefined
  const client = async (): Promise<BaoClient> => {
    if (current && current.until > Date.now()) return current.client
    if (auth.method === 'token') {
      if (!bao.token) throw new CloudtaserError('BAO_NO_TOKEN', 'token auth needs BAO_TOKEN (or VAULT_TOKEN)', {exitCode: ExitCode.CONFIG})
      current = {client: connect({...bao, token: bao.token, tokenSource: 'BAO_TOKEN'}), until: Infinity}
      return current.client
    }
    pending ??= (async () => {
      let jwt: string
      try {
        jwt = readFileSync(auth.jwtFile, 'utf8').trim()
      } catch (err) {
        throw new CloudtaserError('BAO_SA_TOKEN_UNREADABLE', `cannot read the ServiceAccount token ${auth.jwtFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, {
          exitCode: ExitCode.CONFIG,
          hint: 'In a Pod, keep automountServiceAccountToken on (or mount a projected token there); elsewhere pass the token file.',
          cause: err,
        })
      }
      const l = await loginKubernetes(bao, {mount: auth.mount, role: auth.role, jwt}, connect)
      const old = current
      current = {client: l.client, until: Date.now() + Math.max(30, l.leaseSeconds / 2) * 1000}
      void old?.client.close()
      return l.client
    })().finally(() => (pending = undefined))
    return pending
  }
  return {
    client,
    invalidate: () => {
      if (current && auth.method === 'kubernetes') current.until = 0
    },
    close: async () => current?.client.close(),
  }
}
