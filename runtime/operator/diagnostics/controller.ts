// Run-once diagnostics on the leader: fills DebugReports (list, then watch from that list's
// resourceVersion; a fresh list after every watch end catches what a gap missed), deletes them
// after their TTL, and warns with a NoEnforcingNode event on each Pod that waits for an
// enforcing node none of the cluster's nodes is.
import {setTimeout as sleep} from 'node:timers/promises'
import {Watch, type KubeConfig, type V1Pod} from '@kubernetes/client-node'
import {INJECT_LABEL, NODE_KERNEL_LABEL} from '../../../lib/annotations.js'
import {debugReportsPath, type DebugReport, type DebugReportStatus} from '../../../lib/debug/report.js'
import {kubeHttp, type KubeHttp} from '../../../lib/kube/http.js'
import type {Logger} from '../log.js'
import {requiresEnforcingNode} from '../mutation.js'
import {findingsOf, NO_ENFORCING_NODE, noEnforcingNodeMessage} from './findings.js'
import {NotObservable, observe} from './observe.js'
import type {Probe} from './probe.js'

const DEFAULT_TTL_SECONDS = 3600

export interface DiagnosticsOptions {
  kubeConfig: KubeConfig
  identity: string
  log: Logger
  onError: (event: string, err: unknown) => void
  /** How often Pending Pods are checked for a missing enforcing node. */
  sweepMs?: number
  probe?: Probe
}

export class DiagnosticsController {
  private http: Promise<KubeHttp> | undefined
  private running = false
  private abort = new AbortController()
  private watchAbort: AbortController | undefined
  private loops: Promise<void>[] = []
  private queue: Promise<void> = Promise.resolve()

  constructor(private readonly o: DiagnosticsOptions) {}

  private stopping: Promise<void> | undefined

  start(): void {
    if (this.running) return
    if (this.stopping) return void this.stopping.then(() => this.start())
    this.running = true
    this.abort = new AbortController()
    this.http ??= kubeHttp(this.o.kubeConfig)
    this.loops = [this.reportLoop(), this.sweepLoop()]
  }

  stop(): Promise<void> {
    if (!this.running) return this.stopping ?? Promise.resolve()
    this.running = false
    this.abort.abort()
    this.watchAbort?.abort()
    this.stopping = Promise.all([...this.loops, this.queue]).then(() => {
      this.stopping = undefined
    })
    return this.stopping
  }

  private async pause(ms: number): Promise<void> {
    await sleep(ms, undefined, {signal: this.abort.signal}).catch(() => undefined)
  }

  private async reportLoop(): Promise<void> {
    for (let delay = 1000; this.running; ) {
      try {
        const http = await this.http!
        const list = await http.get<{items: DebugReport[]; metadata?: {resourceVersion?: string}}>(debugReportsPath())
        for (const r of list.items) this.enqueue(r)
        delay = 1000
        await this.watch(list.metadata?.resourceVersion)
      } catch (err) {
        // No CRD (an operator run outside the chart) lands here too: retried, at most once a minute.
        this.o.onError('debug_reports_failed', err)
        await this.pause(delay)
        delay = Math.min(delay * 2, 60_000)
      }
    }
  }

  private async watch(resourceVersion: string | undefined): Promise<void> {
    if (!this.running) return
    await new Promise<void>((resolve, reject) => {
      new Watch(this.o.kubeConfig)
        .watch(
          debugReportsPath(),
          {resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 300},
          (type, obj: DebugReport) => {
            if (type === 'ADDED' || type === 'MODIFIED') this.enqueue(obj)
          },
          (err) => (err && this.running ? reject(err) : resolve()),
        )
        .then((a) => {
          this.watchAbort = a
          if (!this.running) a.abort()
        }, reject)
    })
  }

  private enqueue(r: DebugReport): void {
    this.queue = this.queue.then(() => this.handle(r)).catch((err) => this.o.onError('debug_report_failed', err))
  }

  private async handle(r: DebugReport): Promise<void> {
    if (!this.running) return
    const http = await this.http!
    const {namespace, name} = r.metadata
    const at = `${debugReportsPath(namespace)}/${encodeURIComponent(name!)}`
    if (r.status?.completedAt) {
      const ttl = r.spec.ttlSecondsAfterFinished ?? DEFAULT_TTL_SECONDS
      if (Date.parse(r.status.completedAt) + ttl * 1000 <= Date.now()) await http.send('DELETE', at)
      return
    }
    const status = await this.diagnose(http, r)
    const res = await http.send('PATCH', `${at}/status`, {body: Buffer.from(JSON.stringify({status})), contentType: 'application/merge-patch+json'})
    if (res.status === 404) return // deleted meanwhile
    if (res.status >= 400) throw new Error(`writing the status of DebugReport ${namespace}/${name}: HTTP ${res.status}: ${res.bytes.toString('utf8').slice(0, 300)}`)
    this.o.log('info', 'debug_report', {namespace, name: name!, phase: status.phase, findings: status.findings.length})
  }

  private async diagnose(http: KubeHttp, r: DebugReport): Promise<DebugReportStatus> {
    const base = {completedAt: new Date().toISOString(), reporter: this.o.identity}
    const {spec} = r
    const what = spec.workload ? `${spec.workload.kind} ${r.metadata.namespace}/${spec.workload.name}` : `Pod ${r.metadata.namespace}/${spec.pod}`
    try {
      const o = await observe(http, r.metadata.namespace, spec, this.o.probe)
      return {phase: 'Complete', ...base, ...(o.template ? {template: o.template} : {}), pods: o.pods, findings: findingsOf(o, what)}
    } catch (err) {
      if (!(err instanceof NotObservable)) throw err
      return {phase: 'Failed', ...base, message: err.message, pods: [], findings: [err.message]}
    }
  }

  private async sweepLoop(): Promise<void> {
    while (this.running) {
      await this.sweep().catch((err) => this.o.onError('enforcement_sweep_failed', err))
      await this.pause(this.o.sweepMs ?? 10_000)
    }
  }

  /** One Warning per Pod: the event's name is derived from the Pod's, so a repeat is a 409. */
  private async sweep(): Promise<void> {
    const http = await this.http!
    const enforcing = await http.get<{items: unknown[]}>(`/api/v1/nodes?labelSelector=${encodeURIComponent(`${NODE_KERNEL_LABEL}=enforce`)}&limit=1`)
    if (enforcing.items.length > 0) return
    const pending = await http.get<{items: V1Pod[]}>(`/api/v1/pods?labelSelector=${encodeURIComponent(`${INJECT_LABEL}=true`)}&fieldSelector=${encodeURIComponent('status.phase=Pending,spec.nodeName=')}`)
    for (const p of pending.items) {
      if (!requiresEnforcingNode(p.spec?.affinity) || p.metadata?.deletionTimestamp) continue
      const {name, namespace, uid} = p.metadata!
      const now = new Date().toISOString()
      const event = {
        metadata: {name: `${name}.${uid!.slice(0, 8)}.no-enforcing-node`.slice(0, 253), namespace},
        involvedObject: {apiVersion: 'v1', kind: 'Pod', name, namespace, uid},
        reason: NO_ENFORCING_NODE,
        message: `this Pod ${noEnforcingNodeMessage}`,
        type: 'Warning',
        source: {component: 'cloudtaser-operator'},
        reportingComponent: 'cloudtaser.io/operator',
        reportingInstance: this.o.identity,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      }
      const res = await http.send('POST', `/api/v1/namespaces/${encodeURIComponent(namespace!)}/events`, {body: Buffer.from(JSON.stringify(event))})
      if (res.status === 409) continue
      if (res.status >= 400) throw new Error(`creating a ${NO_ENFORCING_NODE} event for Pod ${namespace}/${name}: HTTP ${res.status}: ${res.bytes.toString('utf8').slice(0, 300)}`)
      this.o.log('warn', 'no_enforcing_node', {namespace: namespace!, pod: name!})
    }
  }
}
