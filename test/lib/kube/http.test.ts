// Raw list calls against the real kube-apiserver of the lab: pagination, metadata-only Secrets, errors.
import t from 'tap'
import {CoreV1Api, KubeConfig} from '@kubernetes/client-node'
import {startControlPlane} from '../../../lib/lab/index.js'
import {eachListed, kubeHttp, listAll, listHead, METADATA_ONLY, type KubeHttp} from '../../../lib/kube/http.js'
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

t.test('listHead reads the continue token from the start of a list, before its items', async (t) => {
  t.same(listHead('{"kind":"SecretList","apiVersion":"v1","metadata":{"resourceVersion":"42","continue":"abc=="},"items":[{"metad'), {continue: 'abc=='})
  t.same(listHead('{"kind":"SecretList","apiVersion":"v1","metadata":{"resourceVersion":"42"},"items":['), {continue: undefined}, 'no token: the last page')
  t.same(listHead('{"kind":"SecretList","metadata":{"continue":""},\n  "items": ['), {continue: undefined}, 'an empty token is none')
  t.equal(listHead('{"kind":"SecretList","apiVersion":"v1","metadata":{"resourceVer'), 'more', 'items not reached yet')
  t.equal(listHead('{"items":[],"metadata":{"continue":"x"}}'), 'unknown', 'metadata after the items: wait for the whole page')
  t.equal(listHead('{"kind":"SecretList","metadata":{"continue":"x"}},"items":['), 'unknown', 'not JSON-shaped')
})

/** A real client whose requests are recorded: when each was made, relative to the pages finished before it. */
function recording(http: KubeHttp, tamper?: (prefix: string) => string): {http: KubeHttp; log: string[]} {
  const log: string[] = []
  let n = 0
  return {
    log,
    http: {
      server: http.server,
      stats: http.stats,
      send: http.send,
      get<T>(path: string, accept?: string, peek?: (prefix: string) => boolean): Promise<T> {
        const id = n++
        log.push(`ask ${id}`)
        const seen = peek && (tamper ? (prefix: string) => peek(tamper(prefix)) : peek)
        return http.get<T>(path, accept, seen).finally(() => log.push(`got ${id}`))
      },
      getText: (path: string) => http.getText(path),
    },
  }
}

t.test('the next page is asked for as soon as a page\'s head names its token; items keep their order', async (t) => {
  const base = await kubeHttp(cp.kubeConfig)
  const {http, log} = recording(base)
  const names: string[] = []
  const pages: number[] = []
  const n = await eachListed<{metadata: {name: string}}>(http, '/api/v1/namespaces/paged/secrets', (s) => names.push(s.metadata.name), {accept: METADATA_ONLY, limit: 2, onPage: (k) => pages.push(k)})
  t.equal(n, 7)
  t.same(names, ['s0', 's1', 's2', 's3', 's4', 's5', 's6'])
  t.same(pages, [2, 4, 6, 7])
  t.same(log.slice(0, 2), ['ask 0', 'ask 1'], 'page 2 was asked for before page 1 had arrived')
  t.equal(log.filter((l) => l.startsWith('ask')).length, 4, 'one request per page, none wasted')
})

t.test('without a usable head (or with a wrong token in it) paging falls back to the parsed page', async (t) => {
  const base = await kubeHttp(cp.kubeConfig)
  const list = async (http: KubeHttp): Promise<string[]> => {
    const names: string[] = []
    await eachListed<{metadata: {name: string}}>(http, '/api/v1/namespaces/paged/secrets', (s) => names.push(s.metadata.name), {accept: METADATA_ONLY, limit: 3})
    return names
  }
  const expected = ['s0', 's1', 's2', 's3', 's4', 's5', 's6']
  const blind = recording(base, () => '{"items":[')
  t.same(await list(blind.http), expected, 'head unreadable')
  t.same(blind.log, ['ask 0', 'got 0', 'ask 1', 'got 1', 'ask 2', 'got 2'], 'each page asked for once the one before was read')
  const lying = recording(base, (prefix) => prefix.replace(/"continue":"[^"]*"/, '"continue":"not-the-token"'))
  t.same(await list(lying.http), expected, 'a wrong early token: its request is dropped and the real one made')
  t.equal(lying.log.filter((l) => l.startsWith('ask')).length, 5, 'three pages, and two requests on a wrong token that failed unseen')
})
