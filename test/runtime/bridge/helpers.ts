// Shared by the bridge's tests: a log recorder the daemons write to, a poll, and the jwt auth
// method OpenBao checks ServiceAccount tokens with in beacon and reverse modes.
import {createPublicKey, type JsonWebKey} from 'node:crypto'
import type {KubeHttp} from '../../../lib/kube/http.js'
import type {LogFields, Logger} from '../../../runtime/beacon/log.js'
import type {bao} from '../../lib/lab/helpers.js'

export const until = async (cond: () => boolean, what: string, ms = 20_000) => {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

export type Line = LogFields & {event: string; level: string}
export const recorder = () => {
  const lines: Line[] = []
  const logger: Logger = (level, event, fields) => void lines.push({level, event, ...fields})
  return {lines, logger, has: (event: string, match: Record<string, unknown> = {}) => lines.some((l) => l.event === event && Object.entries(match).every(([k, v]) => (v instanceof RegExp ? v.test(String(l[k])) : l[k] === v)))}
}

/**
 * OpenBao cannot reach the apiserver in these modes: a jwt auth method at `mount` checks tokens
 * with the cluster's public keys (node:crypto turns each JWK into the PEM OpenBao wants). Returns
 * the cluster's issuer.
 */
export async function jwtAuthFromCluster(kube: KubeHttp, root: (method: string, path: string, body?: unknown) => ReturnType<typeof bao>, mount: string): Promise<string> {
  const issuer = (await kube.get<{issuer: string}>('/.well-known/openid-configuration')).issuer
  const jwks = await kube.get<{keys: object[]}>('/openid/v1/jwks', 'application/jwk-set+json')
  const pems = jwks.keys.map((k) => createPublicKey({key: k as JsonWebKey, format: 'jwk'}).export({type: 'spki', format: 'pem'}) as string)
  await root('POST', `sys/auth/${mount}`, {type: 'jwt'})
  await root('POST', `auth/${mount}/config`, {jwt_validation_pubkeys: pems, bound_issuer: issuer})
  return issuer
}
