import type {V1Container, V1EnvVar, V1VolumeMount} from '@kubernetes/client-node'
import {Annotations} from '../../lib/annotations.js'

/**
 * Pure: the S3 proxy a Pod asks for with `cloudtaser.io/s3-proxy: "true"`, as a native sidecar
 * (an init container with restartPolicy Always, Kubernetes >= 1.29). It runs `s3-proxy run` of
 * the cloudtaser image under the wrapper, like an app: the wrapper reads the proxy's S3
 * credentials from OpenBao into its environment, and the proxy logs in for Transit with the Pod's
 * ServiceAccount token as the same role. So the Pod spec holds settings only, never a credential.
 */

export const S3_PROXY_CONTAINER = 'cloudtaser-s3-proxy'
/** The S3 port, on loopback only: the app reaches it as localhost, nothing outside the Pod can. */
export const S3_PROXY_PORT = 8190
/** /healthz, /readyz, /metrics: on the Pod's address, because the kubelet probes that one. */
export const S3_PROXY_OPS_PORT = 8191
/**
 * The cloudtaser image's entrypoint (lib/lab/images.ts CLOUDTASER; a test keeps the two equal).
 * The wrapper needs the whole command line: it starts the program itself.
 */
export const CLOUDTASER_IMAGE_ENTRYPOINT = ['/usr/local/bin/node', '/app/bin/run.js']

/** The credentials' KV fields and the variables `s3-proxy run` reads them from (runtime/s3-proxy/service.ts). */
export const S3_PROXY_CREDENTIAL_FIELDS = {
  access_key_id: 'CLOUDTASER_S3_ACCESS_KEY_ID',
  secret_access_key: 'CLOUDTASER_S3_SECRET_ACCESS_KEY',
  upstream_access_key_id: 'CLOUDTASER_S3_UPSTREAM_ACCESS_KEY_ID',
  upstream_secret_access_key: 'CLOUDTASER_S3_UPSTREAM_SECRET_ACCESS_KEY',
} as const
export const S3_PROXY_ENV_MAP = Object.entries(S3_PROXY_CREDENTIAL_FIELDS)
  .map(([field, env]) => `${field}=${env}`)
  .join(',')

export interface S3ProxyRequest {
  upstream: string
  region: string
  transitKey: string
  transitMount: string
  /** KV v2 API path of the four credential fields. */
  credentials: string
  requireEncrypted: boolean
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/
const REGION = /^[a-z0-9][a-z0-9-]{0,62}$/
// One KV v2 API path, as secret-paths lists them: no separator, space or `$` the wrapper would read otherwise.
const KV_PATH = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*\/data\/[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/

/**
 * The Pod's request for the proxy: undefined when it asks for none, the settings, or why they are
 * wrong (the webhook denies then: a Pod expecting a proxy must not start without one).
 */
export function s3ProxyRequest(annotations: Record<string, string>): S3ProxyRequest | undefined | {error: string} {
  const flag = annotations[Annotations.s3Proxy]
  if (flag === undefined || flag === 'false') return undefined
  if (flag !== 'true') return {error: `${Annotations.s3Proxy} is "${flag}"; it must be "true" or "false"`}
  const missing = [Annotations.s3ProxyUpstream, Annotations.s3ProxyTransitKey, Annotations.s3ProxyCredentials].filter((k) => !annotations[k]?.trim())
  if (missing.length > 0) return {error: `${Annotations.s3Proxy} needs ${missing.join(', ')}`}
  const upstream = annotations[Annotations.s3ProxyUpstream]!.trim()
  let url: URL
  try {
    url = new URL(upstream)
  } catch {
    return {error: `${Annotations.s3ProxyUpstream} "${upstream}" is not a URL`}
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return {error: `${Annotations.s3ProxyUpstream} "${upstream}" is not an http(s) URL`}
  // Credentials in the URL would be a secret in the Pod spec; a path or query would be ignored.
  if (url.username || url.password) return {error: `${Annotations.s3ProxyUpstream} must not hold credentials; they come from ${Annotations.s3ProxyCredentials}`}
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) return {error: `${Annotations.s3ProxyUpstream} "${upstream}" must be an endpoint without path or query (the bucket is in each request)`}
  const region = annotations[Annotations.s3ProxyRegion]?.trim() || 'us-east-1'
  if (!REGION.test(region)) return {error: `${Annotations.s3ProxyRegion} "${region}" is not a region name (lower-case letters, digits, -)`}
  const transitKey = annotations[Annotations.s3ProxyTransitKey]!.trim()
  if (!NAME.test(transitKey)) return {error: `${Annotations.s3ProxyTransitKey} "${transitKey}" is not a Transit key name (letters, digits, . _ -)`}
  const transitMount = annotations[Annotations.s3ProxyTransitMount]?.trim() || 'transit'
  if (!NAME.test(transitMount)) return {error: `${Annotations.s3ProxyTransitMount} "${transitMount}" is not a mount name`}
  const credentials = annotations[Annotations.s3ProxyCredentials]!.trim()
  if (!KV_PATH.test(credentials)) return {error: `${Annotations.s3ProxyCredentials} "${credentials}" is not one KV v2 API path (<mount>/data/<path>)`}
  const strict = annotations[Annotations.s3ProxyRequireEncrypted]?.trim() ?? 'false'
  if (strict !== 'true' && strict !== 'false') return {error: `${Annotations.s3ProxyRequireEncrypted} is "${strict}"; it must be "true" or "false"`}
  return {upstream: url.origin, region, transitKey, transitMount, credentials, requireEncrypted: strict === 'true'}
}

/** How the proxy logs in to OpenBao: as the wrapper beside it does, with the same role and token. */
export interface S3ProxyLogin {
  role: string
  /** The kubernetes (or, through the broker, jwt) auth mount, without `auth/`. */
  authMount: string
  tokenFile?: string
}

/** `s3-proxy run`'s command line: settings only; the credentials arrive in its environment. */
export function s3ProxyCommand(r: S3ProxyRequest, login: S3ProxyLogin): string[] {
  return [
    ...CLOUDTASER_IMAGE_ENTRYPOINT,
    's3-proxy',
    'run',
    `--host=127.0.0.1`,
    `--port=${S3_PROXY_PORT}`,
    `--ops-host=0.0.0.0`,
    `--ops-port=${S3_PROXY_OPS_PORT}`,
    `--upstream=${r.upstream}`,
    `--region=${r.region}`,
    `--transit-mount=${r.transitMount}`,
    `--transit-key=${r.transitKey}`,
    '--bao-auth=kubernetes',
    `--bao-role=${login.role}`,
    `--bao-auth-mount=${login.authMount}`,
    ...(login.tokenFile ? [`--sa-token-file=${login.tokenFile}`] : []),
    ...(r.requireEncrypted ? ['--require-encrypted'] : []),
  ]
}

/**
 * The sidecar around a command the wrapper starts. `env` and `volumeMounts` are the wrapper's
 * (settings, its binary, the token and CA); the rest is what a sidecar needs to be a good
 * neighbour: a startup probe (the app's containers start only once it passes), readiness,
 * requests sized from docs/s3-proxy.md's RSS measurements (64-100 MB), no privileges.
 */
export function s3ProxyContainer(o: {image: string; command: string[]; env: V1EnvVar[]; volumeMounts: V1VolumeMount[]}): V1Container {
  const probe = {httpGet: {path: '/readyz', port: S3_PROXY_OPS_PORT}}
  return {
    name: S3_PROXY_CONTAINER,
    image: o.image,
    restartPolicy: 'Always',
    command: o.command,
    env: o.env,
    volumeMounts: o.volumeMounts,
    ports: [{name: 's3-proxy-ops', containerPort: S3_PROXY_OPS_PORT}],
    // The wrapper waits up to its start deadline (60 s) for OpenBao: the probe waits as long.
    startupProbe: {...probe, periodSeconds: 1, failureThreshold: 90},
    readinessProbe: {...probe, periodSeconds: 10},
    resources: {requests: {cpu: '100m', memory: '128Mi'}, limits: {memory: '256Mi'}},
    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: {drop: ['ALL']}},
  }
}
