import type {KubeConfig} from '@kubernetes/client-node'
import type {KubeTarget} from '../kube/kubeconfig.js'
import {mapBounded} from '../bounded.js'
import {NODE_KERNEL_LABEL} from '../annotations.js'
import {CloudtaserError, ExitCode} from '../errors.js'
import {readFingerprint} from '../kube/fingerprint.js'
import {eachListed, kubeHttp, METADATA_ONLY, secretNames} from '../kube/http.js'
import type {LiveWorkload} from '../kube/pod-template.js'
import type {WorkloadKind} from '../plan/types.generated.js'
import {SYSTEM_NAMESPACES, type ObservedCluster} from './transform.js'

export interface CollectOptions {
  namespaces?: string[]
  excludeNamespaces?: string[]
  includeSystem?: boolean
  onProgress?: (message: string) => void
}

const LISTS: Array<{kind: WorkloadKind; path: string}> = [
  {kind: 'Deployment', path: 'apis/apps/v1/{ns}deployments'},
  {kind: 'StatefulSet', path: 'apis/apps/v1/{ns}statefulsets'},
  {kind: 'DaemonSet', path: 'apis/apps/v1/{ns}daemonsets'},
  {kind: 'CronJob', path: 'apis/batch/v1/{ns}cronjobs'},
]

/** Receives the Secret names, then each listed object as its page arrives (see PlanBuilder); objects are not kept. */
export interface CollectSink {
  secretsListed(secrets: Map<string, string>): void
  workload(kind: WorkloadKind, object: LiveWorkload): void
  job(object: LiveWorkload): void
  pod(object: LiveWorkload): void
}

/**
 * Reads what discover needs, read-only and never a Secret value: workloads, Jobs and Pods by
 * list calls, handed to `sink` one by one, and Secrets (listed first, per namespace in scope) as
 * Tables without objects: name and type only (needs `list` on secrets; neither data nor
 * annotations, which can hold every value, cross the wire). `get` on Secrets is never used.
 */
export async function collect(kc: KubeConfig | KubeTarget, options: CollectOptions, sink: CollectSink): Promise<ObservedCluster> {
  const http = await kubeHttp(kc)
  const progress = options.onProgress ?? (() => undefined)
  const fingerprint = await readFingerprint(http)
  // What each node's eBPF agent says it can do, in parallel with the lists (kernelProtection's default).
  const kernel = nodeKernelModes(http)
  const excluded = new Set([...(options.includeSystem ? [] : SYSTEM_NAMESPACES), ...(options.excludeNamespaces ?? [])])

  let scopes: string[]
  if (options.namespaces?.length) {
    for (const ns of options.namespaces) {
      await http.get(`/api/v1/namespaces/${encodeURIComponent(ns)}`).catch((err: CloudtaserError) => {
        if (err.code === 'KUBE_NOT_FOUND') throw new CloudtaserError('KUBE_NAMESPACE_UNKNOWN', `namespace "${ns}" does not exist in this cluster`, {exitCode: ExitCode.USAGE, hint: 'List namespaces with `kubectl get namespaces`.'})
        throw err
      })
    }
    // Namespaces named with -n are listed even when they would be skipped by default.
    scopes = [...options.namespaces]
  } else {
    scopes = []
  }
  const all = scopes.length === 0
  const prefixes = all ? [''] : scopes.map((ns) => `namespaces/${encodeURIComponent(ns)}/`)
  const seen = new Set<string>()
  const list = async <T>(template: string, label: string, each: (item: T) => void, accept?: string): Promise<void> => {
    let base = 0
    for (const p of prefixes) {
      const path = `/${template.replace('{ns}', p)}`
      const before = base
      base += await eachListed<T>(http, path, each, {onPage: (n) => progress(`listed ${before + n} ${label}`), accept})
    }
  }
  const see = (o: LiveWorkload): void => {
    seen.add(o.metadata?.namespace ?? '')
  }

  // Secret names first: a workload is final (missing Secrets flagged) as soon as it is built.
  const namespacesWithSecrets = all
    ? (await listNames(http, '/api/v1/namespaces')).filter((ns) => !excluded.has(ns))
    : scopes.filter((ns) => !(options.excludeNamespaces ?? []).includes(ns))
  const secrets = new Map<string, string>()
  await mapBounded(namespacesWithSecrets, SECRET_LISTS_IN_FLIGHT, async (ns) => {
    for (const [name, type] of await secretNames(http, ns)) secrets.set(`${ns}/${name}`, type)
    progress(`listed ${secrets.size} Secret names`)
  })
  sink.secretsListed(secrets)
  for (const {kind, path} of LISTS) {
    await list<LiveWorkload>(path, `${kind}s`, (o) => {
      see(o)
      sink.workload(kind, o)
    })
  }
  await list<LiveWorkload>('apis/batch/v1/{ns}jobs', 'Jobs', (o) => {
    see(o)
    sink.job(o)
  })
  await list<LiveWorkload>('api/v1/{ns}pods', 'Pods', (o) => {
    see(o)
    sink.pod(o)
  })

  const namespaces = all ? [...seen].filter((ns) => ns && !excluded.has(ns)).sort() : scopes.filter((ns) => !(options.excludeNamespaces ?? []).includes(ns))
  return {fingerprint, server: http.server, namespaces, secrets, nodeKernelModes: await kernel}
}

/** Each node's agent verdict (undefined: no agent has labelled it); 'forbidden' without `list` on nodes. */
async function nodeKernelModes(http: Awaited<ReturnType<typeof kubeHttp>>): Promise<Array<string | undefined> | 'forbidden'> {
  const modes: Array<string | undefined> = []
  try {
    await eachListed<{metadata: {labels?: Record<string, string>}}>(http, '/api/v1/nodes', (n) => modes.push(n.metadata.labels?.[NODE_KERNEL_LABEL]), {accept: METADATA_ONLY})
  } catch (err) {
    if (err instanceof CloudtaserError && err.code === 'KUBE_FORBIDDEN') return 'forbidden'
    throw err
  }
  return modes
}

/** One Table list per namespace: enough in flight to hide round trips, few enough for a busy apiserver. */
const SECRET_LISTS_IN_FLIGHT = 8

async function listNames(http: Awaited<ReturnType<typeof kubeHttp>>, path: string): Promise<string[]> {
  const names: string[] = []
  await eachListed<{metadata: {name: string}}>(http, path, (o) => names.push(o.metadata.name))
  return names
}
