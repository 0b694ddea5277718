// Operator replicas as host processes against the lab (real kube-apiserver, real OpenBao): each
// one is `cloudtaser operator run` (the built CLI) with a kubeconfig and an OpenBao login of its
// own, both from a TokenRequest token of the operator's ServiceAccount written to a file, and
// only the RBAC the chart must grant (OPERATOR_RBAC below). Replicas share one port with
// SO_REUSEPORT, so the kernel spreads the apiserver's connections over them as a Service would.
import {spawn, type ChildProcess} from 'node:child_process'
import {randomUUID, X509Certificate, createHash} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {request as httpRequest} from 'node:http'
import {request as httpsRequest} from 'node:https'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {AdmissionregistrationV1Api, CoreV1Api, RbacAuthorizationV1Api, type V1PolicyRule} from '@kubernetes/client-node'
import {Annotations, INJECT_LABEL} from '../../../lib/annotations.js'
import type {Lab} from '../../../lib/lab/index.js'
import {OpenBaoClient} from '../../../lib/openbao/client.js'
import {configureOperator, OPERATOR_DEFAULTS} from '../../../lib/openbao/configure.js'
import {clusterEndpoint, CONNECT_DEFAULTS, connectCluster} from '../../../lib/openbao/connect.js'
import {resolveConnection} from '../../../lib/openbao/config.js'
import {WEBHOOK_CONFIG_NAME} from '../../../runtime/operator/webhook-config.js'
import {isolatedEnv} from '../../helpers/cli.js'

const BIN = fileURLToPath(new URL('../../../bin/run.js', import.meta.url))
export const NS = OPERATOR_DEFAULTS.namespace
export const SA = OPERATOR_DEFAULTS.serviceAccount

/**
 * What the operator's ServiceAccount needs, and nothing more (docs/operator.md lists it for the
 * chart): its leader Lease, and the webhook configuration it keeps. `create` cannot be limited to
 * a name in RBAC (the object does not exist yet), hence the separate rules.
 */
export const OPERATOR_RBAC: {namespaced: V1PolicyRule[]; cluster: V1PolicyRule[]} = {
  namespaced: [
    {apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create']},
    {apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['cloudtaser-operator-leader'], verbs: ['get', 'update']},
  ],
  cluster: [
    {apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations'], verbs: ['create']},
    {apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations'], resourceNames: [WEBHOOK_CONFIG_NAME], verbs: ['get', 'update']},
  ],
}

/**
 * Only with `--secret-backend kubernetes` (the fallback): its one Secret in the operator's
 * namespace, which the chart renders empty (so no `create`, as the chart grants).
 */
export const FALLBACK_RBAC: V1PolicyRule[] = [{apiGroups: [''], resources: ['secrets'], resourceNames: ['cloudtaser-operator-pki'], verbs: ['get', 'update']}]

/** `kubectl get secrets -A`, and what of it is cloudtaser's. */
export async function cloudtaserSecrets(lab: Lab): Promise<string[]> {
  const all = (await lab.kubeConfig.makeApiClient(CoreV1Api).listSecretForAllNamespaces()).items
  return all
    .filter((s) => s.metadata?.namespace === NS || /cloudtaser/.test(s.metadata?.name ?? '') || s.metadata?.labels?.['app.kubernetes.io/managed-by'] === 'cloudtaser')
    .map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`)
}

export interface Fixture {
  dir: string
  root: OpenBaoClient
  /** A kubeconfig and a token file of the operator's ServiceAccount (a new TokenRequest token each). */
  identityFiles(name: string): Promise<{kubeconfig: string; tokenFile: string}>
  cleanup(): void
}

/** `target connect` and `source configure` as a user runs them, the ServiceAccount and its RBAC. */
export async function prepare(lab: Lab): Promise<Fixture> {
  const root = new OpenBaoClient(resolveConnection({'openbao-addr': lab.baoAddr, token: lab.baoToken}, {}, '/nonexistent'))
  await connectCluster(root, lab.kubeConfig, {...CONNECT_DEFAULTS, ...clusterEndpoint(lab.kubeConfig), renewToken: false})
  await configureOperator(root, OPERATOR_DEFAULTS)
  const core = lab.kubeConfig.makeApiClient(CoreV1Api)
  const rbac = lab.kubeConfig.makeApiClient(RbacAuthorizationV1Api)
  await core.createNamespacedServiceAccount({namespace: NS, body: {metadata: {name: SA}}})
  const subjects = [{kind: 'ServiceAccount', name: SA, namespace: NS}]
  await rbac.createNamespacedRole({namespace: NS, body: {metadata: {name: 'cloudtaser-operator'}, rules: OPERATOR_RBAC.namespaced}})
  await rbac.createNamespacedRoleBinding({namespace: NS, body: {metadata: {name: 'cloudtaser-operator'}, roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'cloudtaser-operator'}, subjects}})
  await rbac.createClusterRole({body: {metadata: {name: 'cloudtaser-operator'}, rules: OPERATOR_RBAC.cluster}})
  await rbac.createClusterRoleBinding({body: {metadata: {name: 'cloudtaser-operator'}, roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cloudtaser-operator'}, subjects}})
  await core.createNamespace({body: {metadata: {name: 'apps'}}})

  const dir = mkdtempSync(join(tmpdir(), 'cloudtaser-ha-'))
  return {
    dir,
    root,
    async identityFiles(name) {
      const token = (await core.createNamespacedServiceAccountToken({name: SA, namespace: NS, body: {spec: {expirationSeconds: 3600, audiences: []}}})).status!.token!
      const tokenFile = join(dir, `${name}.token`)
      writeFileSync(tokenFile, token, {mode: 0o600})
      const kubeconfig = join(dir, `${name}.kubeconfig`)
      writeFileSync(
        kubeconfig,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{name: 'lab', cluster: {server: lab.controlPlane.server, 'certificate-authority': lab.controlPlane.caPath}}],
          users: [{name: SA, user: {tokenFile}}],
          contexts: [{name: SA, context: {cluster: 'lab', user: SA}}],
          'current-context': SA,
        }),
      )
      return {kubeconfig, tokenFile}
    },
    cleanup: () => {
      rmSync(dir, {recursive: true, force: true})
      void root.close()
    },
  }
}

export interface LogEvent {
  level: string
  event: string
  [k: string]: unknown
}

export interface Replica {
  name: string
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  events: () => LogEvent[]
  exited: Promise<number | null>
  /** The ops port, once logged. */
  opsPort: () => Promise<number>
  ops(path: string): Promise<{status: number; body: string}>
  status(): Promise<Status>
}

export interface Status {
  identity: string
  ready: boolean
  reason?: string
  leader: boolean
  material?: {version: string; servingSha256: string; signerSha256: string; bundleSha256: string[]}
  stats: {reviews: number; mutated: number}
}

export function startReplica(name: string, args: string[], env: NodeJS.ProcessEnv): Replica {
  // Without tap's NODE_OPTIONS (its process-info hook, which tap adds to every spawn, doubles a
  // child's RSS): replicas run as users run them, and the memory ha.test.ts measures is theirs.
  // env(1) execs node, so the pid stays the replica's.
  const child = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, BIN, 'operator', 'run', '--identity', name, '--ops-host', '127.0.0.1', '--ops-port', '0', '--wrapper-image', 'registry.local/wrapper:ha', '--json', ...args], {
    env: isolatedEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout!.on('data', (c: Buffer) => (out += c))
  child.stderr!.on('data', (c: Buffer) => (err += c))
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  const events = () =>
    err
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogEvent)
  const opsPort = async () => {
    for (;;) {
      const e = events().find((x) => x.event === 'ops_listening')
      if (e) return e.port as number
      if (child.exitCode !== null) throw new Error(`${name} exited ${child.exitCode}: ${err}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  const ops = async (path: string) => {
    const port = await opsPort()
    return new Promise<{status: number; body: string}>((resolve, reject) => {
      httpRequest({host: '127.0.0.1', port, path, timeout: 5000}, (res) => {
        let b = ''
        res.on('data', (c: Buffer) => (b += c))
        res.on('end', () => resolve({status: res.statusCode!, body: b}))
      })
        .on('error', reject)
        .end()
    })
  }
  return {name, child, stdout: () => out, stderr: () => err, events, exited, opsPort, ops, status: async () => JSON.parse((await ops('/status')).body) as Status}
}

export const sha256Of = (pem: string) => createHash('sha256').update(new X509Certificate(pem).raw).digest('hex')
export const pemsOf = (bundle: string) => bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? []

/** The caBundle (PEM) the apiserver uses for the webhook now. */
export async function liveCaBundle(lab: Lab): Promise<string> {
  const cfg = await lab.kubeConfig.makeApiClient(AdmissionregistrationV1Api).readMutatingWebhookConfiguration({name: WEBHOOK_CONFIG_NAME})
  return Buffer.from(cfg.webhooks![0]!.clientConfig.caBundle ?? '', 'base64').toString('utf8')
}

export const protectedPod = (name: string) => ({
  metadata: {
    name,
    labels: {[INJECT_LABEL]: 'true'},
    annotations: {
      [Annotations.inject]: 'true',
      [Annotations.vaultAddress]: 'https://bao.eu.example:8200',
      [Annotations.vaultRole]: 'billing',
      [Annotations.secretPaths]: 'secret/data/billing/db',
    },
  },
  spec: {containers: [{name: 'app', image: 'registry.local/app:1', command: ['/bin/app']}]},
})

/** One AdmissionReview on a new TLS connection to 127.0.0.1:port, trusting only `ca`. */
export function directReview(port: number, ca: string): Promise<{status: number; mutated: boolean; servedSha256: string}> {
  const body = JSON.stringify({apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: {uid: randomUUID(), namespace: 'apps', operation: 'CREATE', object: protectedPod('direct')}})
  return new Promise((resolve, reject) => {
    const req = httpsRequest({host: '127.0.0.1', port, path: '/mutate-v1-pod', method: 'POST', ca, agent: false, headers: {'content-type': 'application/json'}, timeout: 5000}, (res) => {
      const served = sha256Of((res.socket as import('node:tls').TLSSocket).getPeerX509Certificate()!.toString())
      let b = ''
      res.on('data', (c: Buffer) => (b += c))
      res.on('end', () => resolve({status: res.statusCode!, mutated: (JSON.parse(b) as {response: {patchType?: string}}).response.patchType === 'JSONPatch', servedSha256: served}))
    })
    req.on('error', reject)
    req.end(body)
  })
}
