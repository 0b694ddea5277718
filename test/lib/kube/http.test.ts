// Raw list calls against the real kube-apiserver of the lab: pagination, metadata-only Secrets, errors.
import t from 'tap'
import {CoreV1Api, KubeConfig} from '@kubernetes/client-node'
import {startControlPlane} from '../../../lib/lab/index.js'
import {kubeHttp, listAll, METADATA_ONLY} from '../../../lib/kube/http.js'
import type {CloudtaserError} from '../../../lib/errors.js'

const cp = await startControlPlane()
t.teardown(() => cp.stop())
const core = cp.kubeConfig.makeApiClient(CoreV1Api)
await core.createNamespace({body: {metadata: {name: 'paged'}}})
for (let i = 0; i < 7; i++) await core.createNamespacedSecret({namespace: 'paged', body: {metadata: {name: `s${i}`}, stringData: {v: `canary-http-${i}`}}})

t.test('follows continue tokens page by page, keeping only what keep() returns', async (t) => {
  const http = await kubeHttp(cp.kubeConfig)
  const pages: number[] = []
  const names = await listAll<{metadata: {name: string}}>(http, '/api/v1/namespaces/paged/secrets', (n) => pages.push(n), METADATA_ONLY, (s) => ({metadata: {name: s.metadata.name}}), 3)
  t.same(names.map((s) => s.metadata.name), ['s0', 's1', 's2', 's3', 's4', 's5', 's6'])
  t.same(pages, [3, 6, 7], 'three requests of at most 3')
})

t.test('Secrets listed as PartialObjectMetadataList carry no data', async (t) => {
  const http = await kubeHttp(cp.kubeConfig)
  const list = await http.get<{kind: string; items: Array<Record<string, unknown>>}>('/api/v1/namespaces/paged/secrets', METADATA_ONLY)
  t.equal(list.kind, 'PartialObjectMetadataList')
  t.equal(list.items.length, 7)
  const text = JSON.stringify(list)
  t.notOk(text.includes('canary-http'), 'no value crossed the wire')
  t.ok(list.items.every((i) => !('data' in i) && !('stringData' in i)))
})

t.test('errors: 404, 401 for a token the server does not accept, unreachable', async (t) => {
  const http = await kubeHttp(cp.kubeConfig)
  await t.rejects(http.get('/api/v1/namespaces/nope'), {code: 'KUBE_NOT_FOUND'})

  const stale = new KubeConfig()
  stale.loadFromOptions({
    clusters: [{name: 'lab', server: cp.server, caFile: cp.caPath}],
    users: [{name: 'expired', token: 'eyJhbGciOiJSUzI1NiJ9.expired.token'}],
    contexts: [{name: 'x', cluster: 'lab', user: 'expired'}],
    currentContext: 'x',
  })
  await t.rejects((await kubeHttp(stale)).get('/api/v1/namespaces/kube-system'), {code: 'KUBE_UNAUTHORIZED', exitCode: 4})

  const dead = new KubeConfig()
  dead.loadFromOptions({clusters: [{name: 'dead', server: 'https://127.0.0.1:1', caFile: cp.caPath}], users: [{name: 'u'}], contexts: [{name: 'x', cluster: 'dead', user: 'u'}], currentContext: 'x'})
  const err = (await (await kubeHttp(dead)).get('/api/v1/namespaces').catch((e: unknown) => e)) as CloudtaserError
  t.match(err, {code: 'KUBE_UNREACHABLE', exitCode: 5, message: /https:\/\/127\.0\.0\.1:1: ECONNREFUSED/})
})
