import {childBase, readConfig, type WrapperConfig} from './config.js'
import type {Delivery} from './delivery.js'
import {heapDelivery} from './heap-delivery.js'
import {log} from './log.js'
import type {Native} from './native/index.js'
import {nativeDelivery} from './native-delivery.js'
import {fetchSecrets, type FetchedSecrets} from './secrets.js'
import {isTransient, login, onEventLoop, tokenTtl, withDeadline, type Session} from './session.js'
import {Supervisor} from './supervisor.js'
import {readVersions, sameVersions} from './versions.js'
import {disableCoreDumps} from './core-limit.js'
import {isCloudtaserError} from '../../lib/errors.js'

export interface WrapperOptions {
  /** The addon with its secret store (see hardening.ts); without it, the V8-heap fallback. */
  native?: Native
  /** Why there is no addon, for the log. */
  reason?: string
}

/**
 * The wrapper as PID 1 of the app container: log in, fetch, start the child with exactly the
 * mapped secrets, then keep the token alive and watch KV versions until the child exits.
 * Resolves to the exit code the process must exit with.
 */
export async function runWrapper(env: NodeJS.ProcessEnv = process.env, options: WrapperOptions = {}): Promise<number> {
  let config: WrapperConfig
  try {
    config = readConfig(env)
  } catch (err) {
    return fail(err)
  }
  // Before any secret is in memory: no core file of the wrapper or (inherited) the app.
  const core = disableCoreDumps()
  log(core.applied ? 'info' : 'warn', 'core_dumps', {disabled: core.applied, how: core.how, detail: core.detail})
  const delivery: Delivery = options.native ? nativeDelivery(options.native) : heapDelivery(options.reason ?? 'no addon')
  const t0 = performance.now()
  let session: Session
  let fetched: FetchedSecrets
  try {
    ;({session, fetched} = await withDeadline(
      config.startDeadlineMs,
      async () => {
        const s = await login(config, options.native)
        try {
          return {session: s, fetched: (await fetchSecrets(s.client, config.secretPaths, config.envMap, delivery))!}
        } catch (err) {
          await s.client.close()
          throw err
        }
      },
      (err, waitMs) => log('warn', 'openbao_retry', {error: err.message, waitMs}),
    ))
  } catch (err) {
    return fail(err)
  }
  log('info', 'secrets_fetched', {
    paths: config.secretPaths.length,
    variables: fetched.names.length,
    ms: Math.round(performance.now() - t0),
    auth: config.authMethod,
    secretMemory: fetched.set.memory,
    secretMemoryDetail: fetched.set.detail,
  })

  const launchWith = (f: FetchedSecrets) => () => delivery.launch(config.command, childBase(env, f.names), f.set)
  const sup = new Supervisor()
  const ts = performance.now()
  sup.start(launchWith(fetched))
  log('info', 'child_started', {pid: sup.pid, command: config.command[0], spawn: delivery.spawn, spawnMs: Number((performance.now() - ts).toFixed(2))})
  session = await onEventLoop(session)

  const renewAtFor = (lease: number) => (lease > 0 ? Date.now() + (lease * 1000) / 2 : Infinity)
  let renewAt = session.leaseSeconds === undefined ? Infinity : renewAtFor(session.leaseSeconds)
  let busy = false
  let byMetadata = true
  const tick = async (ttlOnly = false) => {
    if (busy) return
    busy = true
    try {
      if (session.leaseSeconds === undefined) {
        session.leaseSeconds = await tokenTtl(session.client)
        renewAt = renewAtFor(session.leaseSeconds)
        log('info', 'token_ttl', {leaseSeconds: session.leaseSeconds})
      }
      if (ttlOnly) return
      if (Date.now() >= renewAt) {
        try {
          const r = await session.client.call<{auth?: {lease_duration?: number}}>('POST', 'auth/token/renew-self', {body: {}})
          const lease = r.body?.auth?.lease_duration ?? 0
          renewAt = renewAtFor(lease)
          log('info', 'token_renewed', {leaseSeconds: lease})
        } catch (err) {
          // Past max TTL or revoked: a fresh login (kubernetes auth re-reads the rotated SA token).
          if (!isTransient(err) && config.authMethod === 'kubernetes') {
            const old = session
            session = await login(config)
            await old.client.close()
            renewAt = renewAtFor(session.leaseSeconds ?? 0)
            log('info', 'token_relogin', {leaseSeconds: session.leaseSeconds})
          } else throw err
        }
      }
      if (config.onChange !== 'none') {
        // Versions from KV metadata first: an unchanged secret is then never read again.
        const current = byMetadata ? await readVersions(session.client, config.secretPaths) : undefined
        if (byMetadata && !current) {
          byMetadata = false
          log('info', 'version_poll_by_read', {reason: 'the token cannot read KV metadata; changes are detected by reading the secrets'})
        }
        // Unchanged versions: no value is copied anywhere, the response bytes are zeroed.
        const next = current && sameVersions(current, fetched.versions) ? undefined : await fetchSecrets(session.client, config.secretPaths, config.envMap, delivery, fetched.versions)
        if (next) {
          log('info', 'secret_changed', {versions: next.versions.join(','), action: config.onChange})
          const prev = fetched
          fetched = next
          if (config.onChange === 'sighup') {
            // The process keeps its environment: the new values have nowhere to go.
            next.set.wipe()
            sup.signal('SIGHUP')
          } else if (!(await sup.restart(launchWith(next)))) next.set.wipe()
          prev.set.wipe()
          log('info', 'child_notified', {pid: sup.pid})
        }
      }
    } catch (err) {
      // OpenBao down later: the app keeps what it has; the next tick tries again.
      log('warn', 'refresh_failed', {error: (err as Error).message, code: (err as {code?: string}).code})
    } finally {
      busy = false
    }
  }
  const timer = setInterval(() => void tick(), config.pollIntervalMs)
  // A given token's TTL is looked up now that the app runs (a failure is retried by the next tick).
  if (session.leaseSeconds === undefined) void tick(true)
  const code = await sup.done
  clearInterval(timer)
  fetched.set.wipe()
  await session.client.close().catch(() => undefined)
  log('info', 'child_exited', {code})
  return code
}

function fail(err: unknown): number {
  if (isCloudtaserError(err)) {
    log('error', 'start_failed', {code: err.code, error: err.message, hint: err.hint})
    return err.exitCode
  }
  log('error', 'start_failed', {code: 'INTERNAL', error: (err as Error).message})
  return 70
}
