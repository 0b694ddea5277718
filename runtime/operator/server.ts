// The operator process: ops port, TLS material (loaded or created before serving), the HTTPS
// admission listener, and the run-once work (webhook configuration, rotation) on the leader.
import {randomBytes, X509Certificate} from 'node:crypto'
import {createServer, type Server} from 'node:https'
import type {Server as HttpServer} from 'node:http'
import type {AddressInfo} from 'node:net'
import {hostname} from 'node:os'
import {setTimeout as sleep} from 'node:timers/promises'
import type {KubeConfig} from '@kubernetes/client-node'
import {CloudtaserError, ExitCode} from '../../lib/errors.js'
import {LeaderElector} from '../../lib/kube/leader-election.js'
import {handleAdmission, send, type AdmissionStats} from './admission.js'
import {followBrokerCa} from './broker-ca.js'
import {DiagnosticsController} from './diagnostics/controller.js'
import {jsonLogger, type Logger} from './log.js'
import {bundlePem} from './material.js'
import {describe, MaterialController, type Loaded} from './material-controller.js'
import type {MutationSettings} from './mutation.js'
import {renderMetrics, startOpsServer} from '../ops/http.js'
import {notAfterOf} from './pki.js'
import {RegistryClient} from './registry.js'
import {MemoryStore, type MaterialStore} from './store.js'
import {patchCaBundle, syncWebhookConfiguration, WEBHOOK_CONFIG_NAME, WEBHOOK_PATH, type ClientConfigTarget, type SyncResult, type WebhookConfigOptions} from './webhook-config.js'

export {review} from './admission.js'
export {jsonLogger, type Logger, type LogFields} from './log.js'

const DAY = 24 * 3600_000
export const OPERATOR_TIMING = {
  caTtlMs: 365 * DAY,
  certTtlMs: 30 * DAY,
  overlapMs: 10 * 60_000,
  pollMs: 30_000,
  leaseDurationMs: 15_000,
  retryInitialMs: 1000,
  retryMaxMs: 30_000,
}
export const LEADER_LEASE_NAME = 'cloudtaser-operator-leader'

export interface OperatorOptions {
  mutation: MutationSettings
  host: string
  port: number
  /** `url` mode: the URL the apiserver calls; derived from host and the bound port when absent. */
  url?: string
  /** Service mode: the apiserver reaches the operator through this Service. */
  service?: {name: string; namespace: string; port: number}
  /** Skip writing the MutatingWebhookConfiguration (no kubeconfig needed). */
  register: boolean
  /** create: the operator owns the whole object; ca-bundle: it exists (Helm chart), only caBundle is set. */
  webhookConfigMode?: 'create' | 'ca-bundle'
  kubeConfig?: KubeConfig
  failurePolicy: WebhookConfigOptions['failurePolicy']
  timeoutSeconds: number
  excludeNamespaces: string[]
  log?: Logger
  /** Reads entrypoints of command-less containers; default: a client with a 3 s budget. */
  registry?: RegistryClient
  /** Where the TLS material lives; default: this process's memory (one replica, a new CA per start). */
  store?: MaterialStore
  /** Certificate lifetimes, CA rotation overlap, store polling, start-up retry (ms). */
  timing?: Partial<typeof OPERATOR_TIMING>
  /** Several replicas: elect a leader on a Lease for the run-once work. Without it this process leads. */
  leaderElection?: {namespace: string; name?: string; identity?: string}
  /** Share the port with other processes on this host (SO_REUSEPORT): the kernel spreads connections. */
  reusePort?: boolean
  /** The plain-HTTP ops port (/healthz, /readyz, /status, /metrics). */
  ops?: {host: string; port: number}
  /** Beacon mode: the ConfigMap the broker publishes the cluster CA in (needs kubeConfig); Pods are denied until it exists. */
  brokerCa?: {namespace: string; name: string}
  /** On the leader: fill DebugReports and warn (NoEnforcingNode) on Pods no node can protect. Needs kubeConfig. */
  diagnostics?: boolean
}

export interface Operator {
  readonly url: string
  readonly port: number
  readonly opsPort: number | undefined
  readonly identity: string
  /** The caBundle this replica serves for (PEM, current CA first). */
  readonly caPem: string
  /** The first webhook configuration write of this process, if it led. */
  readonly registered?: 'created' | 'updated' | 'unchanged'
  stats: AdmissionStats
  isLeader(): boolean
  status(): Record<string, unknown>
  /** Resolves once admission is served (material loaded, HTTPS listening). */
  ready: Promise<void>
  /** Rejects on a fatal error after launch (a port that cannot be bound). */
  failed: Promise<never>
  /** Readiness goes false at once; connections are closed after `drainMs`. */
  close(drainMs?: number): Promise<void>
}

const hostOfUrl = (u: string): string => new URL(u).hostname.replace(/^\[|\]$/g, '')

const reasonOf = (err: unknown): {code: string; message: string; hint?: string} => {
  const e = err as {code?: unknown; message?: string; hint?: string}
  return {code: typeof e.code === 'string' ? e.code : 'ERROR', message: e.message ?? String(err), hint: e.hint}
}

const listenFailed = (what: string, host: string, port: number, err: unknown) =>
  new CloudtaserError('OPERATOR_LISTEN_FAILED', `cannot listen for ${what} on ${host}:${port}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, {
    exitCode: ExitCode.UNAVAILABLE,
    hint: 'Pick another port (--port, --ops-port), or stop what holds it.',
    cause: err,
  })

class OperatorProcess implements Operator {
  readonly stats: AdmissionStats = {reviews: 0, mutated: 0, denied: 0, skipped: 0}
  readonly identity: string
  registered?: 'created' | 'updated' | 'unchanged'
  port = 0
  opsPort: number | undefined
  url = ''
  ready: Promise<void>
  failed: Promise<never>
  /** Settles with the first webhook configuration write when this process leads without election. */
  firstSync: Promise<void>

  private readonly log: Logger
  private readonly timing: typeof OPERATOR_TIMING
  private readonly store: MaterialStore
  private readonly controller: MaterialController
  private readonly registry: RegistryClient
  private readonly hosts: string[]
  private https: Server | undefined
  private ops: HttpServer | undefined
  private elector: LeaderElector | undefined
  private diagnostics: DiagnosticsController | undefined
  private leading = false
  private serving = false
  private closing = false
  private notReady = 'loading the TLS material'
  private pollTimer: NodeJS.Timeout | undefined
  private queue: Promise<void> = Promise.resolve()
  private readonly abort = new AbortController()
  private readonly counters = {rotations: new Map<string, number>(), errors: 0}
  private resolveReady!: () => void
  private rejectFailed!: (err: unknown) => void
  private settleFirstSync!: (err?: unknown) => void

  constructor(private readonly o: OperatorOptions) {
    this.log = o.log ?? jsonLogger()
    this.timing = {...OPERATOR_TIMING, ...o.timing}
    this.store = o.store ?? new MemoryStore()
    this.registry = o.registry ?? new RegistryClient()
    this.identity = o.leaderElection?.identity ?? `${hostname()}_${randomBytes(4).toString('hex')}`
    this.hosts = o.service
      ? [`${o.service.name}.${o.service.namespace}.svc`, `${o.service.name}.${o.service.namespace}.svc.cluster.local`, `${o.service.name}.${o.service.namespace}`, o.service.name]
      : [o.url ? hostOfUrl(o.url) : o.host === '0.0.0.0' || o.host === '::' ? '127.0.0.1' : o.host]
    this.controller = new MaterialController(
      this.store,
      {hosts: this.hosts, caTtlMs: this.timing.caTtlMs, certTtlMs: this.timing.certTtlMs, overlapMs: this.timing.overlapMs},
      (l) => this.apply(l),
      this.log,
    )
    this.ready = new Promise((resolve) => (this.resolveReady = resolve))
    this.failed = new Promise<never>((_, reject) => (this.rejectFailed = reject))
    this.failed.catch(() => undefined)
    this.firstSync = new Promise<void>((resolve, reject) => (this.settleFirstSync = (err) => (err ? reject(err) : resolve())))
    this.firstSync.catch(() => undefined)
    if (o.brokerCa && o.kubeConfig) followBrokerCa(o.kubeConfig, o.brokerCa, o.mutation, this.log, this.abort.signal)
    if (o.diagnostics && o.kubeConfig) {
      this.diagnostics = new DiagnosticsController({kubeConfig: o.kubeConfig, identity: this.identity, log: this.log, onError: (event, err) => this.failure(event, err)})
    }
  }

  get caPem(): string {
    return this.controller.current ? bundlePem(this.controller.current.material) : ''
  }

  isLeader(): boolean {
    return this.leading
  }

  private apply(l: Loaded): void {
    // New connections get the new certificate; open ones keep the old, which is still trusted.
    this.https?.setSecureContext({cert: l.material.serving.certPem, key: l.material.serving.keyPem, minVersion: 'TLSv1.2'})
  }

  private readiness(): {ok: true} | {ok: false; reason: string} {
    if (this.closing) return {ok: false, reason: 'shutting down'}
    if (!this.serving) return {ok: false, reason: this.notReady}
    const cert = new X509Certificate(this.controller.current!.material.serving.certPem)
    if (notAfterOf(cert) <= Date.now()) return {ok: false, reason: `the serving certificate expired at ${cert.validTo} and no new one could be loaded`}
    return {ok: true}
  }

  status(): Record<string, unknown> {
    const r = this.readiness()
    return {
      identity: this.identity,
      ready: r.ok,
      ...(r.ok ? {} : {reason: r.reason}),
      leader: this.leading,
      leaseHolder: this.elector ? this.elector.holder : this.identity,
      backend: this.store.kind,
      where: this.store.where,
      url: this.url,
      material: this.controller.current ? describe(this.controller.current) : undefined,
      stats: this.stats,
    }
  }

  private metrics(): string {
    const current = this.controller.current
    return renderMetrics([
      {name: 'cloudtaser_operator_admission_reviews_total', help: 'AdmissionReviews answered, by outcome.', type: 'counter', samples: (['mutated', 'skipped', 'denied'] as const).map((o) => ({labels: {outcome: o}, value: this.stats[o]}))},
      {name: 'cloudtaser_operator_ready', help: '1 while this replica serves admission.', type: 'gauge', samples: [{value: this.readiness().ok ? 1 : 0}]},
      {name: 'cloudtaser_operator_leader', help: '1 while this replica holds the leader Lease.', type: 'gauge', samples: [{value: this.leading ? 1 : 0}]},
      {
        name: 'cloudtaser_operator_serving_certificate_expiry_seconds',
        help: 'notAfter of the served certificate, Unix seconds.',
        type: 'gauge',
        samples: current ? [{value: Math.floor(notAfterOf(new X509Certificate(current.material.serving.certPem)) / 1000)}] : [],
      },
      {name: 'cloudtaser_operator_material_rotations_total', help: 'Rotation steps this replica wrote, by step.', type: 'counter', samples: [...this.counters.rotations].map(([step, value]) => ({labels: {step}, value}))},
      {name: 'cloudtaser_operator_errors_total', help: 'Failed store, Lease or webhook configuration calls.', type: 'counter', samples: [{value: this.counters.errors}]},
    ])
  }

  private failure(event: string, err: unknown, extra: Record<string, string | number> = {}): void {
    this.counters.errors++
    const r = reasonOf(err)
    this.log('error', event, {code: r.code, error: r.message, hint: r.hint, ...extra})
  }

  start(): this {
    this.run().catch((err) => this.rejectFailed(err))
    return this
  }

  private async run(): Promise<void> {
    const o = this.o
    if (this.store.kind === 'kubernetes') {
      this.log('warn', 'secret_backend_kubernetes', {
        where: this.store.where,
        warning: 'the webhook CA key and serving key are kept in a Kubernetes Secret (etcd, readable by anyone who may get Secrets in this namespace); use --secret-backend openbao as soon as OpenBao is reachable',
      })
    }
    if (o.ops) {
      try {
        const s = await startOpsServer(o.ops.host, o.ops.port, {ready: () => this.readiness(), status: () => this.status(), metrics: () => this.metrics()})
        this.ops = s.server
        this.opsPort = s.port
      } catch (err) {
        throw listenFailed('the ops port', o.ops.host, o.ops.port, err)
      }
      this.log('info', 'ops_listening', {host: o.ops.host, port: this.opsPort})
    }
    for (let delay = this.timing.retryInitialMs; ; delay = Math.min(delay * 2, this.timing.retryMaxMs)) {
      if (this.closing) return
      try {
        await this.controller.load()
        break
      } catch (err) {
        const r = reasonOf(err)
        this.notReady = `${r.code}: ${r.message}`
        this.failure('material_unavailable', err, {where: this.store.where, retry_in_ms: delay})
        await sleep(delay, undefined, {signal: this.abort.signal}).catch(() => undefined)
      }
    }
    const l = this.controller.current!
    const https = createServer({cert: l.material.serving.certPem, key: l.material.serving.keyPem, minVersion: 'TLSv1.2'}, (req, res) => {
      const path = (req.url ?? '').split('?')[0]
      if (req.method === 'GET' && (path === '/healthz' || path === '/readyz')) {
        const r = path === '/healthz' ? {ok: true as const} : this.readiness()
        return r.ok ? send(res, 200, 'ok') : send(res, 503, `not ready: ${r.reason}`)
      }
      if (req.method !== 'POST' || path !== WEBHOOK_PATH) return send(res, 404, 'not found')
      handleAdmission(req, res, {mutation: o.mutation, registry: this.registry, kubeConfig: o.kubeConfig, stats: this.stats, log: this.log})
    })
    https.keepAliveTimeout = 30_000
    try {
      await new Promise<void>((resolve, reject) => {
        https.once('error', reject)
        https.listen({port: o.port, host: o.host, reusePort: o.reusePort ?? false}, () => resolve())
      })
    } catch (err) {
      throw listenFailed('admission', o.host, o.port, err)
    }
    this.https = https
    this.apply(this.controller.current!) // material may have changed while binding
    this.port = (https.address() as AddressInfo).port
    this.url = o.url ?? (o.service ? `https://${this.hosts[0]}:${o.service.port}${WEBHOOK_PATH}` : `https://${this.hosts[0]}:${this.port}${WEBHOOK_PATH}`)
    this.serving = true
    this.log('info', 'listening', {host: o.host, port: this.port, url: this.url, identity: this.identity, backend: this.store.kind})
    this.resolveReady()

    if (o.leaderElection && o.kubeConfig) {
      const d = this.timing.leaseDurationMs
      this.elector = new LeaderElector(o.kubeConfig, {
        namespace: o.leaderElection.namespace,
        name: o.leaderElection.name ?? LEADER_LEASE_NAME,
        identity: this.identity,
        leaseDurationMs: d,
        renewDeadlineMs: (d * 2) / 3,
        retryPeriodMs: d / 5,
        onStartedLeading: () => this.setLeading(true),
        onStoppedLeading: () => this.setLeading(false),
        onError: (err) => this.failure('lease_failed', err),
      })
      this.elector.start()
    } else this.setLeading(true)
    this.pollTimer = setInterval(() => this.enqueue(() => this.tick()), this.timing.pollMs)
    this.pollTimer.unref()
  }

  private setLeading(v: boolean): void {
    this.leading = v
    this.log('info', v ? 'leader_started' : 'leader_stopped', {identity: this.identity})
    if (v) this.enqueue(() => this.leaderWork(true))
    if (v) this.diagnostics?.start()
    else void this.diagnostics?.stop()
  }

  /** One thing at a time: polls, rotations and webhook writes never interleave. */
  private enqueue(fn: () => Promise<void>): void {
    this.queue = this.queue.then(fn).catch((err) => this.failure('tick_failed', err))
  }

  private async tick(): Promise<void> {
    if (this.closing) return
    try {
      await this.controller.poll(this.leading)
    } catch (err) {
      this.failure('material_poll_failed', err, {where: this.store.where})
      return
    }
    if (this.leading) await this.leaderWork(false)
  }

  private async syncWebhook(caPem: string): Promise<SyncResult | undefined> {
    const o = this.o
    if (!o.register) return undefined
    if (!o.kubeConfig) throw new Error('registering the webhook needs a kubeconfig')
    const target: ClientConfigTarget = o.service && !o.url ? {service: o.service} : {url: this.url}
    const r =
      o.webhookConfigMode === 'ca-bundle'
        ? await patchCaBundle(o.kubeConfig, WEBHOOK_CONFIG_NAME, caPem)
        : await syncWebhookConfiguration(o.kubeConfig, {target, caPem, failurePolicy: o.failurePolicy, timeoutSeconds: o.timeoutSeconds, excludeNamespaces: o.excludeNamespaces})
    if (r.action !== 'unchanged') this.log('info', 'webhook_configuration', {action: r.action, ca_count: caPem.match(/BEGIN CERTIFICATE/g)?.length ?? 0})
    return r
  }

  /** Leader: the webhook configuration follows the material; then the next rotation step, if due. */
  private async leaderWork(first: boolean): Promise<void> {
    if (this.closing || !this.leading || !this.controller.current) return
    let live: string
    try {
      const r = await this.syncWebhook(this.caPem)
      if (first && r) this.registered ??= r.action
      live = r?.caBundle ?? this.caPem
      if (first) this.settleFirstSync()
    } catch (err) {
      if (first) this.settleFirstSync(err)
      this.failure('webhook_configuration_failed', err)
      return
    }
    const before = this.caPem
    const step = await this.controller.rotate(live)
    if (!step) return
    this.counters.rotations.set(step.kind, (this.counters.rotations.get(step.kind) ?? 0) + 1)
    if (this.caPem !== before) await this.syncWebhook(this.caPem).catch((err) => this.failure('webhook_configuration_failed', err))
  }

  async close(drainMs = 0): Promise<void> {
    if (this.closing) return
    this.closing = true
    this.abort.abort()
    if (drainMs > 0) await sleep(drainMs)
    clearInterval(this.pollTimer)
    await this.elector?.stop()
    this.leading = false
    await this.diagnostics?.stop()
    await this.queue
    await Promise.all(
      [this.https, this.ops].map(
        (s) =>
          s &&
          new Promise<void>((resolve) => {
            s.close(() => resolve())
            s.closeAllConnections()
          }),
      ),
    )
    await this.store.close()
  }
}

/** Starts the operator and returns at once: `ready` resolves when it serves, `failed` rejects on a fatal error. */
export function launchOperator(o: OperatorOptions): Operator {
  return new OperatorProcess(o).start()
}

/**
 * Starts the operator and waits until it serves admission. Without leader election (one
 * replica), also until its first webhook configuration write, whose failure is thrown.
 */
export async function startOperator(o: OperatorOptions): Promise<Operator> {
  const p = new OperatorProcess(o).start()
  try {
    await Promise.race([p.ready, p.failed])
    if (o.register && !o.leaderElection) await Promise.race([p.firstSync, p.failed])
  } catch (err) {
    await p.close()
    throw err
  }
  return p
}
