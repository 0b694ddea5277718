import {readFileSync} from 'node:fs'
import {setTimeout as sleep} from 'node:timers/promises'
import {BaoClient} from '../../lib/openbao/bao-client.js'
import {Http1Transport} from '../../lib/openbao/http1-transport.js'
import type {ConnectionSettings} from '../../lib/openbao/config.js'
import {loginKubernetes} from '../../lib/openbao/login.js'
import {CloudtaserError, ExitCode} from '../../lib/errors.js'
import type {WrapperConfig} from './config.js'

export interface Session {
  client: BaoClient
  /**
   * Seconds the token lives; 0 for a non-expiring (root/dev) token; undefined for a given token
   * until tokenTtl looks it up (after the app has started: it only schedules renewal).
   */
  leaseSeconds: number | undefined
}

export function connectionOf(c: WrapperConfig): Omit<ConnectionSettings, 'token' | 'tokenSource'> {
  let ca: string | undefined
  if (c.caFile) {
    try {
      ca = readFileSync(c.caFile, 'utf8')
    } catch (err) {
      throw new CloudtaserError('WRAPPER_CACERT', `cannot read CLOUDTASER_VAULT_CACERT ${c.caFile}: ${(err as NodeJS.ErrnoException).code}`, {exitCode: ExitCode.CONFIG})
    }
  }
  // Few attempts per call: the wrapper has its own deadline loop around login and fetch.
  return {addr: c.vaultAddr, ca, caFile: c.caFile, timeoutMs: 5000, attempts: 2}
}

/** The wrapper's clients: the small HTTP/1.1 transport, not undici (start-up time, see http1-transport.ts). */
const connect = (s: ConnectionSettings): BaoClient => new BaoClient(s, new Http1Transport({ca: s.ca}))

/** Log in once: kubernetes auth re-reads the projected token (the kubelet rotates it). */
export async function login(c: WrapperConfig): Promise<Session> {
  const settings = connectionOf(c)
  if (c.authMethod === 'token') {
    // No lookup-self here: a bad token fails the first read as BAO_INVALID_TOKEN all the same,
    // and the app starts one cold round trip sooner.
    return {client: connect({...settings, token: c.token!, tokenSource: 'flag'}), leaseSeconds: undefined}
  }
  let jwt: string
  try {
    jwt = readFileSync(c.tokenFile, 'utf8').trim()
  } catch (err) {
    throw new CloudtaserError('WRAPPER_SA_TOKEN', `cannot read the ServiceAccount token ${c.tokenFile}: ${(err as NodeJS.ErrnoException).code}`, {
      exitCode: ExitCode.CONFIG,
      hint: 'The pod needs a projected ServiceAccount token (automountServiceAccountToken must not be false).',
    })
  }
  const l = await loginKubernetes(settings, {mount: c.authMount, role: c.role!, jwt}, connect)
  return {client: l.client, leaseSeconds: l.leaseSeconds}
}

/** A given token's remaining TTL (0: never expires), to schedule its renewal. */
export async function tokenTtl(client: BaoClient): Promise<number> {
  const r = await client.call<{data?: {ttl?: number}}>('GET', 'auth/token/lookup-self')
  return r.body?.data?.ttl ?? 0
}

/** Retry only what a retry can fix (unreachable, 5xx, sealed); a refused login or a missing secret fails at once. */
export const isTransient = (err: unknown): boolean => (err as CloudtaserError).exitCode === ExitCode.UNAVAILABLE

/** Run `step` until it succeeds or the deadline passes, with capped exponential backoff. */
export async function withDeadline<T>(deadlineMs: number, step: () => Promise<T>, onRetry: (err: Error, waitMs: number) => void): Promise<T> {
  const end = Date.now() + deadlineMs
  for (let wait = 200; ; wait = Math.min(wait * 2, 5000)) {
    try {
      return await step()
    } catch (err) {
      if (!isTransient(err)) throw err
      const left = end - Date.now()
      if (left <= 0) {
        throw new CloudtaserError('WRAPPER_START_DEADLINE', `OpenBao stayed unreachable for ${Math.round(deadlineMs / 1000)}s: ${(err as Error).message}`, {
          exitCode: ExitCode.UNAVAILABLE,
          hint: 'The application was not started without its secrets. Check OpenBao and the network path from the pod; CLOUDTASER_START_DEADLINE sets the wait.',
          cause: err,
        })
      }
      const w = Math.min(wait, left)
      onRetry(err as Error, w)
      await sleep(w)
    }
  }
}
