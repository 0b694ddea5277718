// The admission endpoint: one AdmissionReview in, the JSONPatch (or a denial) out.
import type {IncomingMessage, ServerResponse} from 'node:http'
import {CoreV1Api, type KubeConfig, type V1Container, type V1Pod} from '@kubernetes/client-node'
import type {Logger} from './log.js'
import {containersNeedingEntrypoint, mutatePod, type MutationSettings, type ResolvedEntrypoint} from './mutation.js'
import {credentialsFromDockerConfig, type Credentials, type RegistryClient} from './registry.js'

export interface AdmissionStats {
  reviews: number
  mutated: number
  denied: number
  skipped: number
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

export const send = (res: ServerResponse, status: number, body: unknown) => {
  res.statusCode = status
  res.setHeader('content-type', typeof body === 'string' ? 'text/plain' : 'application/json')
  res.end(typeof body === 'string' ? body : JSON.stringify(body))
}

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

/** POST /mutate-v1-pod */
export function handleAdmission(req: IncomingMessage, res: ServerResponse, o: {mutation: MutationSettings; registry: RegistryClient; kubeConfig?: KubeConfig; stats: AdmissionStats; log: Logger}): void {
  readBody(req)
    .then(async (text) => {
      const body = JSON.parse(text) as AdmissionReview
      const pod = body.request?.object
      const need = pod ? containersNeedingEntrypoint(pod) : []
      const {resolved, unresolved} = need.length > 0 ? await resolveEntrypoints(pod!, need, o.registry, o.kubeConfig, body.request?.namespace) : {resolved: {}, unresolved: {}}
      const r = review(body, o.mutation, resolved, unresolved)
      o.stats.reviews++
      o.stats[r.outcome]++
      o.log(r.outcome === 'denied' ? 'warn' : 'info', `pod_${r.outcome}`, {pod: r.pod})
      send(res, 200, {apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: r.response})
    })
    .catch((err: Error) => {
      o.log('warn', 'bad_review', {error: err.message})
      send(res, 400, `bad AdmissionReview: ${err.message}`)
    })
}
