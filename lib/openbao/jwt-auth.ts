// Beacon mode's auth method: OpenBao cannot reach the cluster's apiserver (no TokenReview), so a
// `jwt` auth method checks ServiceAccount tokens with the cluster's public keys. Those keys cross
// no air gap by hand: the broker sends them through the tunnel and the bridge records them with
// the registration (clusters/<fp>/initialized), where this reads them.
import {createPublicKey, type JsonWebKey} from 'node:crypto'
import {CloudtaserError, ExitCode} from '../errors.js'
import type {Action} from './actions.js'
import type {OpenBaoClient} from './client.js'
import {authMountType} from './managed.js'
import {kvData, registrationLayout} from './registration.js'

interface RecordedKeys {
  jwks?: {issuer: string; keys: (JsonWebKey & {kid?: string})[]}
}

export async function configureJwtFromRegistration(client: OpenBaoClient, o: {fingerprint: string; mount: string; dryRun?: boolean}): Promise<Action[]> {
  const l = registrationLayout(o.fingerprint, {namespaces: true})
  const rec = (await client.read<{data?: {data?: RecordedKeys | null}}>(kvData(l, l.paths.initialized)))?.data?.data
  if (!rec?.jwks?.keys?.length)
    throw new CloudtaserError('BAO_NO_CLUSTER_KEYS', `no public keys recorded for cluster ${o.fingerprint} at ${kvData(l, l.paths.initialized)}`, {
      exitCode: ExitCode.CONFIG,
      hint: 'The bridge records them when the broker\'s first tunnel comes up: register the cluster, run the bridge, install cloudtaser in beacon mode, then run this again.',
    })
  const pubkeys = rec.jwks.keys.map((k) => createPublicKey({key: k, format: 'jwk'}).export({type: 'spki', format: 'pem'}) as string).sort()
  const issuer = rec.jwks.issuer
  const actions: Action[] = []
  const type = await authMountType(client, o.mount)
  if (type === null) throw new CloudtaserError('BAO_PERMISSION_DENIED', 'this token may not read the auth mount table (sys/auth), so it cannot tell whether the jwt mount exists', {exitCode: ExitCode.AUTH, hint: 'Run it with a token that may read and enable auth methods.'})
  if (type !== undefined && type !== 'jwt') throw new CloudtaserError('BAO_AUTH_MOUNT_CONFLICT', `auth/${o.mount}/ is a ${type} auth method, not jwt`, {exitCode: ExitCode.CONFLICT, hint: 'Choose another --auth-mount for beacon mode.'})
  actions.push({resource: 'auth-method', name: `auth/${o.mount}`, kind: type ? 'unchanged' : 'create', reason: type ? undefined : 'jwt'})
  const have = type ? (await client.read<{data?: {jwt_validation_pubkeys?: string[]; bound_issuer?: string}}>(`auth/${o.mount}/config`))?.data : undefined
  const changes = [
    ...(JSON.stringify([...(have?.jwt_validation_pubkeys ?? [])].map((p) => p.trim()).sort()) === JSON.stringify(pubkeys.map((p) => p.trim())) ? [] : ['jwt_validation_pubkeys']),
    ...(have?.bound_issuer === issuer ? [] : ['bound_issuer']),
  ]
  actions.push({resource: 'auth-config', name: `auth/${o.mount}/config`, kind: !have ? 'create' : changes.length ? 'update' : 'unchanged', ...(have && changes.length ? {changes, reason: `${changes.join(', ')} differ`} : {})})
  if (o.dryRun) return actions
  if (!type) await client.write(`sys/auth/${o.mount}`, {type: 'jwt', description: `cloudtaser beacon mode, cluster ${o.fingerprint}`})
  if (!have || changes.length) await client.write(`auth/${o.mount}/config`, {jwt_validation_pubkeys: pubkeys, bound_issuer: issuer})
  return actions
}
