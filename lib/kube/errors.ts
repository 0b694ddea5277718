import {CloudtaserError, ExitCode} from '../errors.js'

interface KubeFailure {
  statusCode?: number
  body?: string
  path?: string
  server?: string
  cause?: unknown
}

/**
 * Turns an API failure into what a person can act on: an unreachable server, credentials the
 * server no longer accepts, or the exact verb and resource RBAC refused.
 */
export function kubeError(f: KubeFailure): CloudtaserError {
  const where = f.server ?? 'the cluster'
  if (f.statusCode === undefined) {
    const code = (f.cause as NodeJS.ErrnoException | undefined)?.code
    return new CloudtaserError('KUBE_UNREACHABLE', `cannot reach the Kubernetes API at ${where}: ${code ?? (f.cause as Error | undefined)?.message ?? 'no answer'}`, {
      exitCode: ExitCode.UNAVAILABLE,
      hint: 'Check the kubeconfig context (--context) and that the API server is reachable from here.',
      cause: f.cause,
    })
  }
  let message = ''
  try {
    message = (JSON.parse(f.body ?? '{}') as {message?: string}).message ?? ''
  } catch {
    message = f.body?.slice(0, 200) ?? ''
  }
  if (f.statusCode === 401) {
    return new CloudtaserError('KUBE_UNAUTHORIZED', `the Kubernetes API at ${where} refused the credentials (401): they are invalid or expired`, {
      exitCode: ExitCode.AUTH,
      hint: 'Refresh your credentials (log in to the cluster again) or pick another context with --context.',
    })
  }
  if (f.statusCode === 403) {
    const m = /cannot (\w+) resource "([^"]+)"(?: in API group "([^"]*)")?(?: in the namespace "([^"]+)"| at the cluster scope)?/.exec(message)
    const what = m ? `${m[1]} ${m[3] ? `${m[2]}.${m[3]}` : m[2]}${m[4] ? ` in namespace ${m[4]}` : ' at cluster scope'}` : message
    return new CloudtaserError('KUBE_FORBIDDEN', `RBAC denied: missing permission to ${what}`, {
      exitCode: ExitCode.AUTH,
      hint: m ? `Grant the verb "${m[1]}" on "${m[2]}" to the identity in your kubeconfig (a Role or ClusterRole and a binding).` : undefined,
      details: {verb: m?.[1], resource: m?.[2], group: m?.[3], namespace: m?.[4]},
    })
  }
  if (f.statusCode === 404) {
    return new CloudtaserError('KUBE_NOT_FOUND', `not found: ${f.path}${message ? ` (${message})` : ''}`, {exitCode: ExitCode.CHECK_FAILED})
  }
  return new CloudtaserError('KUBE_API_ERROR', `the Kubernetes API answered ${f.statusCode} for ${f.path}: ${message}`, {exitCode: ExitCode.UNAVAILABLE})
}

/** The HTTP status of a failed call through @kubernetes/client-node (its ApiException), if it has one. */
export const statusCode = (err: unknown): number | undefined => {
  const e = err as {code?: unknown; statusCode?: unknown; response?: {statusCode?: unknown}}
  const c = e.code ?? e.statusCode ?? e.response?.statusCode
  return typeof c === 'number' ? c : undefined
}

/** A failed client-node call (an ApiException, or a fetch failure) through the same mapping as lib/kube's own calls. */
export function kubeApiError(err: unknown, path: string): CloudtaserError {
  if (err instanceof CloudtaserError) return err
  const code = statusCode(err)
  if (code !== undefined) {
    const body = (err as {body?: unknown}).body
    return kubeError({statusCode: code, body: typeof body === 'string' ? body : JSON.stringify(body ?? {}), path})
  }
  return kubeError({cause: (err as {cause?: unknown}).cause ?? err, path})
}
