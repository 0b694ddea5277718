import {CoordinationV1Api, type KubeConfig, type V1Lease} from '@kubernetes/client-node'
import {statusCode} from './errors.js'

/**
 * Lease times are MicroTime (six fractional digits); the client serialises Dates with three,
 * which the apiserver rejects. This Date prints microseconds.
 */
export class MicroTime extends Date {
  override toISOString(): string {
    return super.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z')
  }
}

export interface LeaderElectionOptions {
  namespace: string
  name: string
  /** Unique per replica (Pod name and a random suffix). */
  identity: string
  /** How long a holder keeps the Lease without renewing it. */
  leaseDurationMs: number
  /** Attempts to acquire or renew, this often. */
  retryPeriodMs: number
  /** A leader that could not renew for this long steps down (before others may take over). */
  renewDeadlineMs: number
  onStartedLeading: () => void
  onStoppedLeading: () => void
  onError?: (err: unknown) => void
}

const lossOf = (err: unknown) => statusCode(err) === 409 || statusCode(err) === 404

/**
 * Leader election on a coordination.k8s.io Lease, with client-go's rules: a Lease is free when
 * its holder is empty or when its record has not changed for leaseDuration *as observed here*
 * (clocks of replicas are never compared); every write carries the resourceVersion read, so two
 * candidates cannot both win; a leader that cannot renew within renewDeadline stops leading
 * (renewDeadline < leaseDuration, so it stops before anyone else may start). stop() releases a
 * held Lease so a successor need not wait out the duration.
 */
export class LeaderElector {
  private readonly api: CoordinationV1Api
  private timer: NodeJS.Timeout | undefined
  private leading = false
  private lastRenew = 0
  private observed: {record: string; at: number} | undefined
  private lease: V1Lease | undefined
  private running: Promise<void> | undefined
  private stopped = false

  constructor(
    kc: KubeConfig,
    private readonly o: LeaderElectionOptions,
  ) {
    this.api = kc.makeApiClient(CoordinationV1Api)
  }

  get isLeader(): boolean {
    return this.leading
  }

  /** The holder as last read (for status pages). */
  get holder(): string | undefined {
    return this.lease?.spec?.holderIdentity || undefined
  }

  start(): void {
    const tick = () => {
      if (this.stopped) return
      this.running = this.attempt()
        .catch((err) => this.o.onError?.(err))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, this.leading ? this.o.retryPeriodMs : jitter(this.o.retryPeriodMs))
        })
    }
    tick()
  }

  private setLeading(v: boolean): void {
    if (v === this.leading) return
    this.leading = v
    if (v) this.o.onStartedLeading()
    else this.o.onStoppedLeading()
  }

  private spec(now: MicroTime, acquire: boolean, transitions: number): V1Lease['spec'] {
    return {
      holderIdentity: this.o.identity,
      leaseDurationSeconds: Math.max(1, Math.round(this.o.leaseDurationMs / 1000)),
      acquireTime: (acquire ? now : this.lease?.spec?.acquireTime ?? now) as never,
      renewTime: now as never,
      leaseTransitions: transitions,
    }
  }

  private async attempt(): Promise<void> {
    const {namespace, name} = this.o
    const now = Date.now()
    if (this.leading && now - this.lastRenew > this.o.renewDeadlineMs) this.setLeading(false)
    let current: V1Lease | undefined
    try {
      current = await this.api.readNamespacedLease({name, namespace})
    } catch (err) {
      if (statusCode(err) !== 404) throw err
    }
    if (!current) {
      try {
        this.lease = await this.api.createNamespacedLease({namespace, body: {metadata: {name, namespace}, spec: this.spec(new MicroTime(), true, 0)}})
        this.won()
      } catch (err) {
        if (!lossOf(err)) throw err
      }
      return
    }
    this.lease = current
    const s = current.spec ?? {}
    const record = `${s.holderIdentity ?? ''}|${String(s.renewTime ?? '')}|${s.leaseDurationSeconds ?? ''}`
    if (this.observed?.record !== record) this.observed = {record, at: now}
    const mine = s.holderIdentity === this.o.identity
    const free = !s.holderIdentity || this.observed.at + (s.leaseDurationSeconds ?? 0) * 1000 < now
    if (!mine && !free) {
      this.setLeading(false)
      return
    }
    const transitions = (s.leaseTransitions ?? 0) + (mine ? 0 : 1)
    try {
      this.lease = await this.api.replaceNamespacedLease({name, namespace, body: {...current, spec: this.spec(new MicroTime(), !mine, transitions)}})
      this.won()
    } catch (err) {
      if (!lossOf(err)) throw err
    }
  }

  private won(): void {
    this.lastRenew = Date.now()
    const s = this.lease?.spec
    this.observed = {record: `${s?.holderIdentity ?? ''}|${String(s?.renewTime ?? '')}|${s?.leaseDurationSeconds ?? ''}`, at: this.lastRenew}
    this.setLeading(true)
  }

  /** Stop campaigning; a held Lease is released (holder emptied) for an immediate successor. */
  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    await this.running
    if (!this.leading || !this.lease) return
    this.setLeading(false)
    try {
      const now = new MicroTime()
      await this.api.replaceNamespacedLease({
        name: this.o.name,
        namespace: this.o.namespace,
        body: {...this.lease, spec: {...this.lease.spec, holderIdentity: undefined, leaseDurationSeconds: 1, renewTime: now as never, acquireTime: now as never}},
      })
    } catch (err) {
      // Someone else already took it, or the apiserver is gone: the Lease expires on its own.
      if (!lossOf(err)) this.o.onError?.(err)
    }
  }
}

/** client-go's JitterUntil factor 1.2: candidates do not poll in lockstep. */
const jitter = (ms: number) => ms + Math.random() * ms * 0.2
