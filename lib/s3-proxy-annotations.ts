import {Annotations} from './annotations.js'

/**
 * Pure: what a pod template's `cloudtaser.io/s3-proxy*` annotations ask for. Read by the webhook
 * (runtime/operator/s3-sidecar.ts, which denies a Pod whose settings are wrong) and by discover
 * (which records a valid request in the plan's workload as `s3Proxy`).
 */
/** The credentials' KV fields and the variables `s3-proxy run` reads them from (runtime/s3-proxy/service.ts). */
export const S3_PROXY_CREDENTIAL_FIELDS = {
  access_key_id: 'CLOUDTASER_S3_ACCESS_KEY_ID',
  secret_access_key: 'CLOUDTASER_S3_SECRET_ACCESS_KEY',
  upstream_access_key_id: 'CLOUDTASER_S3_UPSTREAM_ACCESS_KEY_ID',
  upstream_secret_access_key: 'CLOUDTASER_S3_UPSTREAM_SECRET_ACCESS_KEY',
} as const
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

