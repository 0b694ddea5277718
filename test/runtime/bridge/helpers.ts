// Shared by the bridge's tests: a log recorder the daemons write to, a poll, and the jwt auth
// method OpenBao checks ServiceAccount tokens with in beacon and reverse modes.
import {createPublicKey, randomBytes, type JsonWebKey} from 'node:crypto'
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'
import type {CoreV1Api} from '@kubernetes/client-node'
import {bridgeFleetPolicy} from '../../../lib/openbao/bridge-policy.js'
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

/**
 * What both sides need before a bridge and a broker start, on the lab's OpenBao and apiserver: the
 * bridge's least-privilege token, a jwt mount with a role `billing` for apps/billing reading
 * secret/data/billing/*, a canary at secret/data/billing/db, and that ServiceAccount's token in a file.
 */
export async function beaconFixture(o: {kube: KubeHttp; core: CoreV1Api; root: (method: string, path: string, body?: unknown) => ReturnType<typeof bao>; mount: string; work: string}) {
  const {kube, core, root, mount} = o
  await root('PUT', 'sys/policies/acl/cloudtaser-bridge', {policy: bridgeFleetPolicy()})
  const bridgeToken = ((await root('POST', 'auth/token/create', {policies: ['cloudtaser-bridge'], no_default_policy: true, ttl: '1h'})).body as {auth: {client_token: string}}).auth.client_token
  const issuer = await jwtAuthFromCluster(kube, root, mount)
  await root('PUT', 'sys/policies/acl/billing-read', {policy: 'path "secret/data/billing/*" { capabilities = ["read"] }'})
  await root('POST', `auth/${mount}/role/billing`, {role_type: 'jwt', user_claim: 'sub', bound_subject: 'system:serviceaccount:apps:billing', bound_audiences: [issuer], token_policies: ['billing-read'], token_ttl: '10m'})
  const canary = `canary-${mount}-${randomBytes(8).toString('hex')}`
  await root('POST', 'secret/data/billing/db', {data: {password: canary}})
  await core.createNamespace({body: {metadata: {name: 'apps'}}})
  await core.createNamespacedServiceAccount({namespace: 'apps', body: {metadata: {name: 'billing'}}})
  const saToken = (await core.createNamespacedServiceAccountToken({name: 'billing', namespace: 'apps', body: {spec: {expirationSeconds: 600, audiences: []}}})).status!.token!
  const tokenFile = join(o.work, 'token')
  writeFileSync(tokenFile, saToken, {mode: 0o600})
  return {bridgeToken, issuer, canary, saToken, tokenFile}
}
