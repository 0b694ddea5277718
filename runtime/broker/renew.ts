// Renewal before expiry, with the tunnel up: at two thirds of its certificate's life the broker
// renews through the init room exactly as after a restart (a new key, its ServiceAccount proof),
// then moves the tunnel and the wrappers' listener to the new certificate. A failure is logged and
// retried (1 min, doubling to 1 h); the current certificate works until its own end meanwhile.
import {X509Certificate} from 'node:crypto'
import type {Logger} from '../beacon/log.js'

/** setTimeout's longest delay (about 24.8 days): a 60-day wait is slept in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1

export const renewalDue = (certPem: string): number => {
  const c = new X509Certificate(certPem)
  const from = Date.parse(c.validFrom)
  return from + ((Date.parse(c.validTo) - from) * 2) / 3
}

function sleepUntil(at: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout
    const step = () => {
      const left = at - Date.now()
      if (left <= 0 || signal.aborted) return done()
      timer = setTimeout(step, Math.min(left, MAX_TIMER_MS))
    }
    const done = () => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, {once: true})
    step()
  })
}

export function keepRenewed(o: {cert: string; renew: () => Promise<string>; signal: AbortSignal; logger: Logger; afterMs?: number}): void {
  void (async () => {
    let cert = o.cert
    while (!o.signal.aborted) {
      const due = o.afterMs === undefined ? renewalDue(cert) : Date.now() + o.afterMs
      o.logger('info', 'renewal_scheduled', {at: new Date(due).toISOString()})
      await sleepUntil(due, o.signal)
      for (let attempt = 0; !o.signal.aborted; attempt++) {
        try {
          cert = await o.renew()
          break
        } catch (err) {
          if (o.signal.aborted) return
          const retryMs = Math.min(3_600_000, 60_000 * 2 ** attempt)
          o.logger('error', 'renewal_failed', {error: (err as Error).message, retryMs})
          await sleepUntil(Date.now() + retryMs, o.signal)
        }
      }
    }
  })()
}
