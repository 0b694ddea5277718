// `target migrate --via-broker`: OpenBao reached from the cluster side in beacon mode. The caller
// proves who they are to the apiserver (RBAC on serviceaccounts/token of the migrator), logs in
// through broker, beacon and bridge with that token, and OpenBao's policy for the migrator role
// (migrator-access.ts) decides what the run may touch. The migrate code is the same.
import type {KubeConfig} from '@kubernetes/client-node'
import {CloudtaserError} from '../errors.js'
import {kubeError} from '../kube/errors.js'
import {kubeHttp, type KubeHttp} from '../kube/http.js'
import type {MigrationPlan} from '../plan/types.generated.js'
import {BaoClient} from './bao-client.js'
import type {ConnectionSettings} from './config.js'
import {BROKER_TOKEN_AUDIENCE} from './jwt-role.js'
import {loginKubernetes} from './login.js'
import {brokerServiceOf, MIGRATOR_ROLE, MIGRATOR_SERVICE_ACCOUNT} from './migrator-access.js'
import {authMountOf} from './plan-paths.js'
import {ServiceProxyTransport} from './service-proxy-transport.js'

/** Long enough for the login; the OpenBao token it buys has the role's own TTL. */
const TOKEN_SECONDS = 600

/** A migrator session's client: revokes its OpenBao token when closed, so it outlives the run only if the run is killed (then the role's 10-minute TTL ends it). */
class MigratorClient extends BaoClient {
  override async close(): Promise<void> {
    if (this.settings.token) await this.call('POST', 'auth/token/revoke-self', {accept: [403]}).catch(() => undefined)
    await super.close()
  }
}

/** A ServiceAccount token of the migrator, audience `cloudtaser`: the apiserver's RBAC on `create serviceaccounts/token` is the caller check. */
async function migratorToken(http: KubeHttp, namespace: string): Promise<string> {
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${MIGRATOR_SERVICE_ACCOUNT}/token`
  const body = Buffer.from(JSON.stringify({apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: {audiences: [BROKER_TOKEN_AUDIENCE], expirationSeconds: TOKEN_SECONDS}}))
  const r = await http.send('POST', path, {body})
  try {
    if (r.status === 404) {
      throw new CloudtaserError('MIGRATE_NO_MIGRATOR', `no ServiceAccount ${namespace}/${MIGRATOR_SERVICE_ACCOUNT} to log in to OpenBao with (the broker's namespace, from the plan's openbao.address)`)
    }
    if (r.status !== 201 && r.status !== 200) throw kubeError({statusCode: r.status, body: r.bytes.toString('utf8'), path, server: http.server})
    const token = (JSON.parse(r.bytes.toString('utf8')) as {status?: {token?: string}}).status?.token
    if (!token) throw kubeError({statusCode: 500, body: '{"message":"TokenRequest returned no token"}', path, server: http.server})
    return token
  } finally {
    r.bytes.fill(0)
  }
}

export interface ViaBrokerOptions {
  /** OpenBao namespace of the plan's mounts (BAO_NAMESPACE), if any. */
  namespace?: string
  timeoutMs: number
  concurrency?: number
}

/** A BaoClient whose requests go through the apiserver's service proxy to the broker, logged in as the migrator role of the plan's auth mount. */
export async function openBaoViaBroker(kc: KubeConfig, plan: MigrationPlan, o: ViaBrokerOptions): Promise<BaoClient> {
  const service = brokerServiceOf(plan)
  const http = await kubeHttp(kc, {maxSockets: Math.max(4, o.concurrency ?? 8)})
  const jwt = await migratorToken(http, service.namespace)
  const transport = new ServiceProxyTransport(http, service)
  const settings: Omit<ConnectionSettings, 'token' | 'tokenSource'> = {
    addr: `https://${service.name}.${service.namespace}.svc:${service.port}`,
    namespace: o.namespace,
    timeoutMs: o.timeoutMs,
    attempts: 4,
  }
  const mount = authMountOf(plan)
  try {
    const login = await loginKubernetes(settings, {mount, role: MIGRATOR_ROLE, jwt}, (s) => new MigratorClient(s, transport))
    return login.client
  } catch (err) {
    if (err instanceof CloudtaserError && err.code === 'BAO_LOGIN_REFUSED') {
      throw new CloudtaserError('BAO_LOGIN_REFUSED', err.message, {
        hint: `On the OpenBao side, \`cloudtaser source apply-plan PLAN --allow-cluster-migrate\` writes the role ${MIGRATOR_ROLE} on auth/${mount}/ for this plan's paths.`,
      })
    }
    throw err
  }
}
