import {createServer, type Server} from 'node:https'
import type {IncomingMessage, ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import type {KubeConfig, V1Pod} from '@kubernetes/client-node'
import {mutatePod, type MutationSettings} from './mutation.js'
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
export function review(body: AdmissionReview, settings: MutationSettings): {response: object; outcome: 'mutated' | 'denied' | 'skipped'; pod: string} {
  const req = body.request
  if (!req?.uid) throw new Error('not an AdmissionReview request')
  const pod = req.object ?? {}
  const name = `${req.namespace ?? '?'}/${pod.metadata?.name ?? `${pod.metadata?.generateName ?? ''}*`}`
  const result = mutatePod(pod, settings)
  if (!result.allowed) {
    return {response: {uid: req.uid, allowed: false, status: {code: 403, reason: 'Forbidden', message: result.message}}, outcome: 'denied', pod: name}
  }
  if (result.patch.length === 0) return {response: {uid: req.uid, allowed: true}, outcome: 'skipped', pod: name}
  return {
    response: {uid: req.uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(result.patch)).toString('base64')},
    outcome: 'mutated',
    pod: name,
  }
}

/** Certificate, HTTPS listener, then the webhook configuration (so the apiserver never calls a closed port). */
export async function startOperator(o: OperatorOptions): Promise<Operator> {
  const log = o.log ?? jsonLogger()
  const hosts = o.service
    ? [`${o.service.name}.${o.service.namespace}.svc`, `${o.service.name}.${o.service.namespace}.svc.cluster.local`, `${o.service.name}.${o.service.namespace}`, o.service.name]
    : [o.url ? hostOfUrl(o.url) : o.host === '0.0.0.0' || o.host === '::' ? '127.0.0.1' : o.host]
  const pki = await generateServingPki(hosts)
  const stats = {reviews: 0, mutated: 0, denied: 0, skipped: 0}

  const server: Server = createServer({cert: pki.certPem, key: pki.keyPem, minVersion: 'TLSv1.2'}, (req, res) => {
    const path = (req.url ?? '').split('?')[0]
    if (req.method === 'GET' && (path === '/healthz' || path === '/readyz')) return send(res, 200, 'ok')
    if (req.method !== 'POST' || path !== WEBHOOK_PATH) return send(res, 404, 'not found')
    readBody(req)
      .then((text) => {
        const body = JSON.parse(text) as AdmissionReview
        const r = review(body, o.mutation)
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
