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

t.test('in a Pod without a kubeconfig: the ServiceAccount, as client-go does (the operator)', async (t) => {
  const podEnv = {HOME: join(dir, 'empty-home'), KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443'}
  t.match(resolveKubeconfig({}, podEnv), {server: 'https://10.96.0.1:443', needsClient: {reason: 'in-cluster'}})
  t.throws(() => resolveKubeconfig({kubeconfig: join(dir, 'missing.yaml')}, podEnv), {code: 'KUBECONFIG_INVALID'}, 'an explicit --kubeconfig still wins')
  t.throws(() => resolveKubeconfig({}, {HOME: podEnv.HOME}), {code: 'KUBECONFIG_INVALID', message: /no kubeconfig found/}, 'outside a Pod: the usual error')
  const saved = {h: process.env.KUBERNETES_SERVICE_HOST, p: process.env.KUBERNETES_SERVICE_PORT}
  Object.assign(process.env, {KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443'})
  t.teardown(() => {
    for (const [k, v] of [['KUBERNETES_SERVICE_HOST', saved.h], ['KUBERNETES_SERVICE_PORT', saved.p]] as const) if (v === undefined) delete process.env[k]
    else process.env[k] = v
  })
  const kc = kubeClient(resolveKubeconfig({}, {...podEnv, KUBERNETES_SERVICE_HOST: 'fd00::1'}))
  t.equal(kc.getCurrentCluster()?.server, 'https://[fd00::1]:443')
  t.equal(kc.getCurrentCluster()?.caFile, '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt')
  t.match(kc.getCurrentUser()?.authProvider, {name: 'tokenFile', config: {tokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token'}}, 'the token file is re-read as the kubelet rotates it')
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

t.test('the typed client takes the resolved context, CA and token as data', async (t) => {
  const file = write('token.yaml', cfg('tok', 'https://k8s.example.eu:6443/', {token: 'abc'}, {'certificate-authority-data': Buffer.from('CA').toString('base64'), 'tls-server-name': 'k8s'}))
  const kc = kubeClient(resolveKubeconfig({kubeconfig: file}))
  t.equal(kc.getCurrentContext(), 'tok')
  t.match(kc.getCurrentCluster(), {server: 'https://k8s.example.eu:6443', caData: Buffer.from('CA').toString('base64'), skipTLSVerify: false, tlsServerName: 'k8s'})
  t.match(kc.getCurrentUser(), {token: 'abc'})
})
