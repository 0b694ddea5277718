// The broker's own check of a wrapper's login, before it enters the tunnel: a TokenReview by the
// cluster's apiserver. The bridge (and OpenBao's jwt method) can only check a token's signature
// and expiry; the apiserver also knows whether the ServiceAccount and the Pod the token is bound to
// still exist, so a deleted Pod's or ServiceAccount's token stops working at once.
import type {KubeHttp} from '../../lib/kube/http.js'

export type Review = {ok: true; username: string} | {ok: false; reason: string}

/** Audiences as the token names them, unverified: the apiserver checks the token against them. */
function audiencesOf(jwt: string): string[] | undefined {
  try {
    const aud = (JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as {aud?: unknown} | null)?.aud
    const list = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : []
    return list.length ? list : undefined
  } catch {
    return undefined
  }
}

export async function reviewToken(kube: KubeHttp, jwt: string): Promise<Review> {
  const audiences = audiencesOf(jwt)
  const body = Buffer.from(JSON.stringify({apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: {token: jwt, ...(audiences ? {audiences} : {})}}))
  try {
    const r = await kube.send('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {body, contentType: 'application/json'})
    if (r.status !== 201 && r.status !== 200) return {ok: false, reason: `TokenReview failed: HTTP ${r.status} (the broker needs create on tokenreviews)`}
    const status = (JSON.parse(r.bytes.toString('utf8')) as {status?: {authenticated?: boolean; error?: string; user?: {username?: string}}}).status
    if (!status?.authenticated) return {ok: false, reason: `the cluster does not accept this ServiceAccount token${status?.error ? `: ${status.error}` : ''}`}
    const username = status.user?.username ?? ''
    if (!username.startsWith('system:serviceaccount:')) return {ok: false, reason: `not a ServiceAccount token (${username})`}
    return {ok: true, username}
  } finally {
    body.fill(0)
  }
}
