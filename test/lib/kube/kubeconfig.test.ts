// kubeconfig resolution as kubectl does it, checked against the real lab apiserver where it matters.
import t from 'tap'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {delimiter, join} from 'node:path'
import jsyaml from 'js-yaml'
import {startControlPlane} from '../../../lib/lab/index.js'
import {kubeHttp} from '../../../lib/kube/http.js'
import {CoreV1Api} from '@kubernetes/client-node'
import {kubeClient, kubeconfigFiles, resolveKubeconfig} from '../../../lib/kube/kubeconfig.js'

const dir = mkdtempSync(join(tmpdir(), 'cloudtaser-kubeconfig-'))
t.teardown(() => rmSync(dir, {recursive: true, force: true}))
const write = (name: string, doc: unknown): string => {
  const file = join(dir, name)
  writeFileSync(file, jsyaml.dump(doc))
  return file
}
const cfg = (ctx: string, server: string, user: Record<string, unknown> = {token: 'tok'}, cluster: Record<string, unknown> = {}) => ({
  apiVersion: 'v1', kind: 'Config', 'current-context': ctx,
  clusters: [{name: `${ctx}-cluster`, cluster: {server, ...cluster}}],
  users: [{name: `${ctx}-user`, user}],
  contexts: [{name: ctx, context: {cluster: `${ctx}-cluster`, user: `${ctx}-user`}}],
})

t.test('--kubeconfig, then every file of KUBECONFIG (first wins), then ~/.kube/config', async (t) => {
  t.same(kubeconfigFiles({kubeconfig: '/a'}, {KUBECONFIG: '/b'}), ['/a'])
  t.same(kubeconfigFiles({}, {KUBECONFIG: `/b${delimiter}${delimiter}/c`}), ['/b', '/c'])
  t.same(kubeconfigFiles({}, {HOME: '/home/x'}), ['/home/x/.kube/config'])

  const a = write('a.yaml', cfg('prod', 'https://prod.example.eu:6443/'))
  const b = write('b.yaml', {...cfg('dev', 'https://dev.example.eu:6443', {'client-certificate': 'certs/dev.crt', 'client-key': 'certs/dev.key'}, {'insecure-skip-tls-verify': true}), 'current-context': 'dev'})
  const env = {KUBECONFIG: [join(dir, 'missing.yaml'), a, b].join(delimiter)}
  const prod = resolveKubeconfig({}, env)
  t.match(prod, {server: 'https://prod.example.eu:6443', context: 'prod', cluster: 'prod-cluster', headers: {Authorization: 'Bearer tok'}, tls: {rejectUnauthorized: true}})
  t.throws(() => resolveKubeconfig({context: 'dev'}, env), {code: 'KUBECONFIG_INVALID', message: /certs\/dev\.crt/}, 'relative paths resolve against the file that names them')
  t.throws(() => resolveKubeconfig({context: 'staging'}, env), {code: 'KUBE_CONTEXT_UNKNOWN', message: 'no context "staging" in the kubeconfig (have: prod, dev)'})
  t.throws(() => resolveKubeconfig({kubeconfig: join(dir, 'missing.yaml')}), {code: 'KUBECONFIG_INVALID'}, 'an explicit file must exist')
  t.throws(() => resolveKubeconfig({}, {KUBECONFIG: join(dir, 'missing.yaml')}), {code: 'KUBECONFIG_INVALID', message: /no kubeconfig found/})
  writeFileSync(join(dir, 'bad.yaml'), 'clusters: [')
  t.throws(() => resolveKubeconfig({kubeconfig: join(dir, 'bad.yaml')}), {code: 'KUBECONFIG_INVALID', message: /cannot parse/})
  const tokenFile = write('token', 'unused')
  writeFileSync(tokenFile, 'from-file\n')
  t.match(resolveKubeconfig({kubeconfig: write('tf.yaml', cfg('tf', 'https://x', {tokenFile: 'token'}))}), {headers: {Authorization: 'Bearer from-file'}})
})

t.test('exec plugins, auth providers and proxies are handed to client-node', async (t) => {
  const file = write('exec.yaml', cfg('eks', 'https://eks.example.eu', {exec: {apiVersion: 'client.authentication.k8s.io/v1', command: 'aws'}}))
  t.match(resolveKubeconfig({kubeconfig: file}), {server: 'https://eks.example.eu', needsClient: {reason: 'exec', files: [file]}})
  t.match(resolveKubeconfig({kubeconfig: write('proxy.yaml', cfg('p', 'https://x', {token: 't'}, {'proxy-url': 'http://proxy:3128'}))}), {needsClient: {reason: 'proxy-url'}})
})

t.test('talks to the real apiserver with client certificates, and through client-node for an exec plugin', async (t) => {
  const cp = await startControlPlane()
  t.teardown(() => cp.stop())
  const direct = resolveKubeconfig({kubeconfig: cp.kubeconfigPath})
  t.notOk(direct.needsClient)
  const ns = await (await kubeHttp(direct)).get<{metadata: {uid: string}}>('/api/v1/namespaces/kube-system')
  t.match(ns.metadata.uid, /^[0-9a-f-]{36}$/)

  // An exec plugin that prints the lab's client certificate, as cloud CLIs print tokens.
  const lab = jsyaml.load(readFileSync(cp.kubeconfigPath, 'utf8')) as {users: Array<{user: Record<string, string>}>}
  const user = lab.users[0]!.user
  const credential = {apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: {
    clientCertificateData: Buffer.from(user['client-certificate-data']!, 'base64').toString(),
    clientKeyData: Buffer.from(user['client-key-data']!, 'base64').toString(),
  }}
  const plugin = join(dir, 'plugin.json')
  writeFileSync(plugin, JSON.stringify(credential))
  const doc = jsyaml.load(readFileSync(cp.kubeconfigPath, 'utf8')) as {users: Array<{user: unknown}>}
  doc.users[0]!.user = {exec: {apiVersion: 'client.authentication.k8s.io/v1', command: 'cat', args: [plugin], interactiveMode: 'Never'}}
  const execFile = write('lab-exec.yaml', doc)
  const viaClient = resolveKubeconfig({kubeconfig: execFile})
  t.match(viaClient.needsClient, {reason: 'exec'})
  const again = await (await kubeHttp(viaClient)).get<{metadata: {uid: string}}>('/api/v1/namespaces/kube-system')
  t.equal(again.metadata.uid, ns.metadata.uid)

  // The typed client (protect, connect, the operator) from the same resolution, static and exec.
  for (const [what, target] of [['client certificate', direct], ['exec plugin', viaClient]] as const) {
    const typed = await kubeClient(target).makeApiClient(CoreV1Api).readNamespace({name: 'kube-system'})
    t.equal(typed.metadata!.uid, ns.metadata.uid, `typed client, ${what}`)
  }
})

t.test('in a Pod without a kubeconfig: the ServiceAccount token and CA, re-read when the kubelet rotates the token', async (t) => {
  const cp = await startControlPlane()
  t.teardown(() => cp.stop())
  const core = cp.kubeConfig.makeApiClient(CoreV1Api)
  await core.createNamespacedServiceAccount({namespace: 'default', body: {metadata: {name: 'incluster'}}})
  const token = async () => (await core.createNamespacedServiceAccountToken({name: 'incluster', namespace: 'default', body: {spec: {audiences: [], expirationSeconds: 600}}})).status!.token!
  const sa = join(dir, 'serviceaccount')
  const {mkdirSync} = await import('node:fs')
  mkdirSync(sa)
  writeFileSync(join(sa, 'ca.crt'), cp.caPem)
  writeFileSync(join(sa, 'token'), await token())
  const port = new URL(cp.server).port
  const env = {HOME: join(dir, 'no-home'), KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: port, CLOUDTASER_SERVICE_ACCOUNT_DIR: sa}
  t.throws(() => resolveKubeconfig({}, {...env, KUBERNETES_SERVICE_HOST: ''}), {code: 'KUBECONFIG_INVALID', message: /not running in a Pod/})
  t.throws(() => resolveKubeconfig({kubeconfig: join(dir, 'absent')}, env), {code: 'KUBECONFIG_INVALID'}, 'an explicit --kubeconfig is never replaced by the Pod identity')
  const target = resolveKubeconfig({}, env)
  t.match(target, {server: `https://127.0.0.1:${port}`, context: 'in-cluster'})
  // Authenticated as the ServiceAccount (RBAC gives it nothing: 403, not 401).
  await t.rejects((await kubeHttp(target)).get('/api/v1/namespaces/kube-system'), {code: 'KUBE_FORBIDDEN'})
  const saved = {...process.env}
  Object.assign(process.env, env)
  t.teardown(() => {
    for (const k of Object.keys(env)) delete process.env[k]
    Object.assign(process.env, saved)
  })
  const typed = kubeClient(target).makeApiClient(CoreV1Api)
  await t.rejects(typed.readNamespace({name: 'kube-system'}), {code: 403, body: /system:serviceaccount:default:incluster/})
  // Long-lived clients (the operator) name the file, which client-node re-reads every 60 s as client-go does.
  t.match(kubeClient(target).getCurrentUser(), {authProvider: {name: 'tokenFile', config: {tokenFile: join(sa, 'token')}}})
})

t.test('the typed client takes the resolved context, CA and token as data', async (t) => {
  const file = write('token.yaml', cfg('tok', 'https://k8s.example.eu:6443/', {token: 'abc'}, {'certificate-authority-data': Buffer.from('CA').toString('base64'), 'tls-server-name': 'k8s'}))
  const kc = kubeClient(resolveKubeconfig({kubeconfig: file}))
  t.equal(kc.getCurrentContext(), 'tok')
  t.match(kc.getCurrentCluster(), {server: 'https://k8s.example.eu:6443', caData: Buffer.from('CA').toString('base64'), skipTLSVerify: false, tlsServerName: 'k8s'})
  t.match(kc.getCurrentUser(), {token: 'abc'})
})
