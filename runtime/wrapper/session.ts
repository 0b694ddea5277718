import {readFileSync} from 'node:fs'
import {setTimeout as sleep} from 'node:timers/promises'
import {BaoClient} from '../../lib/openbao/bao-client.js'
import {Http1Transport} from '../../lib/openbao/http1-transport.js'
import type {ConnectionSettings} from '../../lib/openbao/config.js'
import {loginKubernetes} from '../../lib/openbao/login.js'
import {CloudtaserError, ExitCode} from '../../lib/errors.js'
import type {WrapperConfig} from './config.js'
import type {Native} from './native/index.js'
import {NativeTransport} from './native-transport.js'

export interface Session {
  client: BaoClient
  /**
   * Seconds the token lives; 0 for a non-expiring (root/dev) token; undefined for a given token
   * until tokenTtl looks it up (after the app has started: it only schedules renewal).
   */
  leaseSeconds: number | undefined
  /** How the client was made, token included: to make the event-loop client after the start. */
  settings: ConnectionSettings
  /** The client blocks on each request (the addon's exchange): onEventLoop replaces it. */
  blocking: boolean
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

/**
 * The wrapper's clients. Before the app starts, the addon's blocking exchange where it can
 * (NativeTransport); after, and without it, the small event-loop HTTP/1.1 client (never undici:
 * start-up time, see http1-transport.ts).
 */
const connector = (native: Native | undefined) => (s: ConnectionSettings): BaoClient =>
  new BaoClient(s, NativeTransport.usable(native, s.addr, s.ca) ? new NativeTransport(native, s.ca) : new Http1Transport({ca: s.ca}))

/**
 * Log in once: kubernetes auth re-reads the projected token (the kubelet rotates it). With
 * `native`, the session's client blocks on each request: call `onEventLoop` once the app runs.
 */
export async function login(c: WrapperConfig, native?: Native): Promise<Session> {
  const settings = connectionOf(c)
  const connect = connector(native)
  const blocking = NativeTransport.usable(native, settings.addr, settings.ca)
  if (c.authMethod === 'token') {
    // No lookup-self here: a bad token fails the first read as BAO_INVALID_TOKEN all the same,
    // and the app starts one cold round trip sooner.
    const s = {...settings, token: c.token!, tokenSource: 'flag' as const}
    return {client: connect(s), leaseSeconds: undefined, settings: s, blocking}
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
  let made: ConnectionSettings | undefined
  const l = await loginKubernetes(settings, {mount: c.authMount, role: c.role!, jwt}, (s) => connect((made = s)))
  return {client: l.client, leaseSeconds: l.leaseSeconds, settings: made!, blocking}
}

/** The same session with an event-loop client: renewal and polling must never block signals. */
export async function onEventLoop(s: Session): Promise<Session> {
  if (!s.blocking) return s
  await s.client.close()
  return {...s, client: connector(undefined)(s.settings), blocking: false}
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
