import {createServer, type Server} from 'node:https'
import type {IncomingMessage, ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import {CoreV1Api, type KubeConfig, type V1Container, type V1Pod} from '@kubernetes/client-node'
import {containersNeedingEntrypoint, mutatePod, type MutationSettings, type ResolvedEntrypoint} from './mutation.js'
import {credentialsFromDockerConfig, RegistryClient, type Credentials} from './registry.js'
import {generateServingPki} from './pki.js'
import {ensureWebhookConfiguration, WEBHOOK_PATH, type ClientConfigTarget, type WebhookConfigOptions} from './webhook-config.js'

export type LogFields = Record<string, string | number | boolean | undefined>
export type Logger = (level: 'info' | 'warn' | 'error', event: string, fields?: LogFields) => void

export const jsonLogger =
  (stream: NodeJS.WritableStream = process.stderr): Logger =>
  (level, event, fields) =>
    stream.write(`${JSON.stringify({ts: new Date().toISOString(), level, component: 'operator', event, ...fields})}\n`)

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
  kubeConfig?: KubeConfig
  failurePolicy: WebhookConfigOptions['failurePolicy']
  timeoutSeconds: number
  excludeNamespaces: string[]
  log?: Logger
  /** Reads entrypoints of command-less containers; default: a client with a 3 s budget. */
  registry?: RegistryClient
}

export interface Operator {
  url: string
  port: number
  caPem: string
  registered?: 'created' | 'updated'
  stats: {reviews: number; mutated: number; denied: number; skipped: number}
  close(): Promise<void>
}

interface AdmissionReview {
  apiVersion?: string
  kind?: string
  request?: {uid: string; namespace?: string; operation?: string; object?: V1Pod}
}

const MAX_BODY = 3 * 1024 * 1024

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > MAX_BODY) {
        reject(new Error('body too large'))
        req.destroy()
      } else chunks.push(c)
    })
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

const send = (res: ServerResponse, status: number, body: unknown) => {
  res.statusCode = status
  res.setHeader('content-type', typeof body === 'string' ? 'text/plain' : 'application/json')
  res.end(typeof body === 'string' ? body : JSON.stringify(body))
}

const hostOfUrl = (u: string): string => new URL(u).hostname.replace(/^\[|\]$/g, '')

/** The admission answer for one review: exported so tests can drive it without TLS. */
export function review(
  body: AdmissionReview,
  settings: MutationSettings,
  resolved: Record<string, ResolvedEntrypoint> = {},
  unresolved: Record<string, string> = {},
): {response: object; outcome: 'mutated' | 'denied' | 'skipped'; pod: string} {
  const req = body.request
  if (!req?.uid) throw new Error('not an AdmissionReview request')
  const pod = req.object ?? {}
  const name = `${req.namespace ?? '?'}/${pod.metadata?.name ?? `${pod.metadata?.generateName ?? ''}*`}`
  const result = mutatePod(pod, settings, resolved, unresolved)
  if (!result.allowed) {
    return {response: {uid: req.uid, allowed: false, status: {code: 403, reason: 'Forbidden', message: result.message}}, outcome: 'denied', pod: name}
  }
  if (result.patch.length === 0) return {response: {uid: req.uid, allowed: true, ...(result.warnings ? {warnings: result.warnings} : {})}, outcome: 'skipped', pod: name}
  return {
    response: {uid: req.uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(result.patch)).toString('base64')},
    outcome: 'mutated',
    pod: name,
  }
}

/**
 * The only remote calls on the admission path, and only for containers without a command: the
 * pod's imagePullSecrets (apiserver) and the image's config (registry), both bounded.
 */
async function resolveEntrypoints(pod: V1Pod, containers: V1Container[], registry: RegistryClient, kc: KubeConfig | undefined, namespace: string | undefined) {
  const resolved: Record<string, ResolvedEntrypoint> = {}
  const unresolved: Record<string, string> = {}
  let creds: Credentials = {}
  const pullSecrets = pod.spec?.imagePullSecrets ?? []
  if (pullSecrets.length > 0 && kc && namespace) {
    const core = kc.makeApiClient(CoreV1Api)
    for (const ref of pullSecrets) {
      try {
        const s = await core.readNamespacedSecret({name: ref.name!, namespace})
        const json = s.data?.['.dockerconfigjson']
        if (json) creds = {...creds, ...credentialsFromDockerConfig(Buffer.from(json, 'base64').toString('utf8'))}
      } catch {
        // A missing pull secret is the kubelet's error to report; the lookup tries anonymously.
      }
    }
  }
  await Promise.all(
    containers.map(async (c) => {
      try {
        const r = await registry.resolve(c.image ?? '', creds)
        if (r.entrypoint.length + r.cmd.length === 0) unresolved[c.name] = `image ${c.image} sets neither ENTRYPOINT nor CMD`
        else resolved[c.name] = r
      } catch (err) {
        unresolved[c.name] = (err as Error).message
      }
    }),
  )
  return {resolved, unresolved}
}

/** Certificate, HTTPS listener, then the webhook configuration (so the apiserver never calls a closed port). */
export async function startOperator(o: OperatorOptions): Promise<Operator> {
  const log = o.log ?? jsonLogger()
  const hosts = o.service
    ? [`${o.service.name}.${o.service.namespace}.svc`, `${o.service.name}.${o.service.namespace}.svc.cluster.local`, `${o.service.name}.${o.service.namespace}`, o.service.name]
    : [o.url ? hostOfUrl(o.url) : o.host === '0.0.0.0' || o.host === '::' ? '127.0.0.1' : o.host]
  const pki = await generateServingPki(hosts)
  const stats = {reviews: 0, mutated: 0, denied: 0, skipped: 0}
  const registry = o.registry ?? new RegistryClient()

  const server: Server = createServer({cert: pki.certPem, key: pki.keyPem, minVersion: 'TLSv1.2'}, (req, res) => {
    const path = (req.url ?? '').split('?')[0]
    if (req.method === 'GET' && (path === '/healthz' || path === '/readyz')) return send(res, 200, 'ok')
    if (req.method !== 'POST' || path !== WEBHOOK_PATH) return send(res, 404, 'not found')
    readBody(req)
      .then(async (text) => {
        const body = JSON.parse(text) as AdmissionReview
        const pod = body.request?.object
        const need = pod ? containersNeedingEntrypoint(pod) : []
        const {resolved, unresolved} = need.length > 0 ? await resolveEntrypoints(pod!, need, registry, o.kubeConfig, body.request?.namespace) : {resolved: {}, unresolved: {}}
        const r = review(body, o.mutation, resolved, unresolved)
        stats.reviews++
        stats[r.outcome]++
        log(r.outcome === 'denied' ? 'warn' : 'info', `pod_${r.outcome}`, {pod: r.pod})
        send(res, 200, {apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: r.response})
      })
      .catch((err: Error) => {
        log('warn', 'bad_review', {error: err.message})
        send(res, 400, `bad AdmissionReview: ${err.message}`)
      })
  })
  server.keepAliveTimeout = 30_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(o.port, o.host, () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  const url = o.url ?? (o.service ? `https://${hosts[0]}:${o.service.port}${WEBHOOK_PATH}` : `https://${hosts[0]}:${port}${WEBHOOK_PATH}`)
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  log('info', 'listening', {host: o.host, port, url})

  let registered: Operator['registered']
  if (o.register) {
    if (!o.kubeConfig) throw new Error('registering the webhook needs a kubeconfig')
    const target: ClientConfigTarget = o.service && !o.url ? {service: o.service} : {url}
    try {
      registered = await ensureWebhookConfiguration(o.kubeConfig, {
        target,
        caPem: pki.caPem,
        failurePolicy: o.failurePolicy,
        timeoutSeconds: o.timeoutSeconds,
        excludeNamespaces: o.excludeNamespaces,
      })
    } catch (err) {
      await close()
      throw err
    }
    log('info', 'webhook_configuration', {action: registered})
  }
  return {url, port, caPem: pki.caPem, registered, stats, close}
}
