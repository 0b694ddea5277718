import {CoordinationV1Api, CoreV1Api, type KubeConfig, type V1Lease} from '@kubernetes/client-node'
import {hostname} from 'node:os'
import {CloudtaserError, ExitCode} from '../errors.js'
import {MicroTime} from '../kube/leader-election.js'
import {statusCode} from './workload-api.js'

export const LEASE_NAME = 'cloudtaser-protect'
export const LEASE_NAMESPACE = 'cloudtaser-system'

export interface LeaseOptions {
  namespace?: string
  durationSeconds?: number
  /** Who we are, as the Lease records it; another run names this in its error. */
  holder: string
}

export interface HeldLease {
  release(): Promise<void>
  /** Rejects if the lease is lost while held (someone broke it): stop patching. */
  lost: Promise<never>
}

export const holderIdentity = (user: string): string => `${user} on ${hostname()} pid ${process.pid}`

const pidOfHolder = (holder: string): {host: string; pid: number} | undefined => {
  const m = / on (\S+) pid (\d+)$/.exec(holder)
  return m ? {host: m[1]!, pid: Number(m[2])} : undefined
}

function holderIsDead(holder: string): boolean {
  const h = pidOfHolder(holder)
  if (!h || h.host !== hostname()) return false
  try {
    process.kill(h.pid, 0)
    return false
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH'
  }
}

function expired(lease: V1Lease, now: number): boolean {
  const renewed = lease.spec?.renewTime ?? lease.spec?.acquireTime
  const duration = lease.spec?.leaseDurationSeconds ?? 0
  return !lease.spec?.holderIdentity || !renewed || new Date(renewed).getTime() + duration * 1000 < now
}

/**
 * One protect per cluster at a time, through a coordination.k8s.io Lease (as controllers elect
 * leaders). A holder that was killed is recognised at once when it ran on this host (its pid is
 * gone); otherwise its lease expires after `durationSeconds` without renewal.
 */
export async function acquireLease(kc: KubeConfig, options: LeaseOptions): Promise<HeldLease> {
  const api = kc.makeApiClient(CoordinationV1Api)
  const namespace = options.namespace ?? LEASE_NAMESPACE
  const duration = options.durationSeconds ?? 30
  const spec = () => ({holderIdentity: options.holder, leaseDurationSeconds: duration, acquireTime: new MicroTime(), renewTime: new MicroTime()}) as V1Lease['spec']

  let lease: V1Lease
  for (let attempt = 0; ; attempt++) {
    const current = await api.readNamespacedLease({name: LEASE_NAME, namespace}).catch((err) => {
      if (statusCode(err) === 404) return undefined
      throw err
    })
    try {
      if (!current) {
        await ensureNamespace(kc, namespace)
        lease = await api.createNamespacedLease({namespace, body: {metadata: {name: LEASE_NAME, namespace}, spec: spec()}})
      } else if (expired(current, Date.now()) || holderIsDead(current.spec!.holderIdentity!)) {
        lease = await api.replaceNamespacedLease({name: LEASE_NAME, namespace, body: {...current, spec: spec()}})
      } else {
        const s = current.spec!
        throw new CloudtaserError('PROTECT_LOCKED', `another protect, unprotect or migrate is running on this cluster: held by ${s.holderIdentity} since ${iso(s.acquireTime)} (last renewed ${iso(s.renewTime)})`, {
          exitCode: ExitCode.CONFLICT,
          hint: `Wait for it to finish, or if it died on another machine, for the lease ${namespace}/${LEASE_NAME} to expire (${s.leaseDurationSeconds}s without renewal).`,
          details: {holder: s.holderIdentity, namespace, lease: LEASE_NAME},
        })
      }
      break
    } catch (err) {
      // 409: another run created or took the lease between our read and write; read again.
      if (statusCode(err) === 409 && attempt < 3) continue
      throw err
    }
  }

  let rejectLost: (err: Error) => void = () => undefined
  const lost = new Promise<never>((_, reject) => {
    rejectLost = reject
  })
  lost.catch(() => undefined)
  const timer = setInterval(async () => {
    try {
      lease = await api.replaceNamespacedLease({name: LEASE_NAME, namespace, body: {...lease, spec: {...lease.spec, renewTime: new MicroTime() as never}}})
    } catch (err) {
      clearInterval(timer)
      rejectLost(new CloudtaserError('PROTECT_LEASE_LOST', `lost the protect lease ${namespace}/${LEASE_NAME}: ${(err as Error).message}`, {exitCode: ExitCode.CONFLICT}))
    }
  }, (duration * 1000) / 3)
  timer.unref()
  return {
    lost,
    async release() {
      clearInterval(timer)
      await api.deleteNamespacedLease({name: LEASE_NAME, namespace, body: {preconditions: {resourceVersion: lease.metadata?.resourceVersion}}}).catch(() => undefined)
    },
  }
}

const iso = (d: unknown): string => (d ? new Date(d as string).toISOString() : 'unknown')

async function ensureNamespace(kc: KubeConfig, name: string): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api)
  await core.createNamespace({body: {metadata: {name}}}).catch((err) => {
    if (statusCode(err) !== 409) throw err
  })
}
