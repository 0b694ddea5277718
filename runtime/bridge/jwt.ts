// The bridge checks every ServiceAccount token before a login reaches OpenBao: signature against
// the cluster's JWKS (which the broker fetched from its apiserver and sent through the tunnel),
// issuer, expiry, and that it names a ServiceAccount. Only then does OpenBao see the login.
import {createPublicKey, verify, type JsonWebKey, type KeyObject} from 'node:crypto'

export interface Jwks {
  issuer: string
  keys: (JsonWebKey & {kid?: string})[]
}

export type JwtVerdict =
  | {ok: true; namespace: string; serviceAccount: string; subject: string; kid: string}
  | {ok: false; reason: string; staleKeys?: boolean}

const ALGS: Record<string, {hash: string | null; dsaEncoding?: 'ieee-p1363'}> = {RS256: {hash: 'sha256'}, ES256: {hash: 'sha256', dsaEncoding: 'ieee-p1363'}}
const SKEW_S = 60

export class JwksCache {
  private keys = new Map<string, KeyObject>()
  private issuer: string | undefined
  updatedAt = 0

  set(jwks: Jwks): void {
    const next = new Map<string, KeyObject>()
    for (const k of jwks.keys) if (k.kid) next.set(k.kid, createPublicKey({key: k, format: 'jwk'}))
    this.keys = next
    this.issuer = jwks.issuer
    this.updatedAt = Date.now()
  }

  get ready(): boolean {
    return this.issuer !== undefined
  }

  /** With `audience`, the token's `aud` must name it (a renewal proof); logins leave audiences to OpenBao's role. */
  verify(jwt: string, now = Date.now() / 1000, audience?: string): JwtVerdict {
    const parts = jwt.split('.')
    if (parts.length !== 3) return {ok: false, reason: 'not a JWT'}
    let header: {alg?: string; kid?: string}
    let claims: {iss?: string; aud?: string | string[]; exp?: number; nbf?: number; sub?: string; 'kubernetes.io'?: {namespace?: string; serviceaccount?: {name?: string}}}
    try {
      header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8'))
      claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'))
    } catch {
      return {ok: false, reason: 'not a JWT'}
    }
    // JSON.parse accepts `null`, numbers and arrays too (found by test/runtime/tunnel/parsers-fuzz.test.ts).
    if (typeof header !== 'object' || header === null || Array.isArray(header) || typeof claims !== 'object' || claims === null || Array.isArray(claims)) return {ok: false, reason: 'not a JWT'}
    const alg = typeof header.alg === 'string' && Object.hasOwn(ALGS, header.alg) ? ALGS[header.alg] : undefined
    if (!alg) return {ok: false, reason: `algorithm ${header.alg} is not accepted`}
    if (!this.ready) return {ok: false, reason: 'no JWKS from the cluster yet', staleKeys: true}
    const key = header.kid ? this.keys.get(header.kid) : undefined
    if (!key) return {ok: false, reason: `unknown key id ${header.kid}`, staleKeys: true}
    const signed = Buffer.from(`${parts[0]}.${parts[1]}`)
    const sig = Buffer.from(parts[2]!, 'base64url')
    const good = verify(alg.hash, signed, alg.dsaEncoding ? {key, dsaEncoding: alg.dsaEncoding} : key, sig)
    if (!good) return {ok: false, reason: 'signature does not verify against the cluster\'s keys'}
    if (claims.iss !== this.issuer) return {ok: false, reason: `issuer ${claims.iss} is not the cluster's (${this.issuer})`}
    if (typeof claims.exp !== 'number' || claims.exp + SKEW_S < now) return {ok: false, reason: 'expired'}
    if (typeof claims.nbf === 'number' && claims.nbf - SKEW_S > now) return {ok: false, reason: 'not valid yet'}
    if (audience !== undefined && !(Array.isArray(claims.aud) ? claims.aud : [claims.aud]).includes(audience)) return {ok: false, reason: `audience is not ${audience}`}
    const ns = claims['kubernetes.io']?.namespace
    const sa = claims['kubernetes.io']?.serviceaccount?.name
    if (!ns || !sa || claims.sub !== `system:serviceaccount:${ns}:${sa}`) return {ok: false, reason: 'not a ServiceAccount token'}
    return {ok: true, namespace: ns, serviceAccount: sa, subject: claims.sub, kid: header.kid!}
  }
}
