// discover records a pod template's S3 proxy request in its workload (`s3Proxy`): settings only.
import t from 'tap'
import type {LiveWorkload} from '../../../lib/kube/pod-template.js'
import {Annotations} from '../../../lib/annotations.js'
import {mergeDiscovery} from '../../../lib/discover/update.js'
import {buildPlan, DEFAULT_PATH_TEMPLATE, type DiscoverOptions} from '../../../lib/discover/transform.js'
import {validatePlan} from '../../../lib/plan/validate.js'

const options: DiscoverOptions = {mount: 'secret', pathTemplate: DEFAULT_PATH_TEMPLATE, createdAt: '2026-12-04T00:00:00Z', createdBy: 'alice@laptop', toolVersion: '0.1.0'}
const s3 = {
  [Annotations.s3Proxy]: 'true',
  [Annotations.s3ProxyUpstream]: 'https://s3.eu-central-1.amazonaws.com',
  [Annotations.s3ProxyRegion]: 'eu-central-1',
  [Annotations.s3ProxyTransitKey]: 'shop-data',
  [Annotations.s3ProxyCredentials]: 'secret/data/prod-eu-1/shop/s3',
}
const plan = (annotations?: Record<string, string>) => {
  const object: LiveWorkload = {
    metadata: {name: 'api', namespace: 'shop'},
    spec: {replicas: 1, template: {metadata: {annotations}, spec: {containers: [{name: 'app', image: 'app:1', env: [{name: 'DB_PASSWORD', valueFrom: {secretKeyRef: {name: 'db', key: 'password'}}}]}]}}} as LiveWorkload['spec'],
  }
  return buildPlan({clusterName: 'prod-eu-1', fingerprint: '0f6a4a36-4cf3-4d93-9f0b-5e2d8f6e1c2a', namespaces: ['shop'], workloads: [{kind: 'Deployment', object}], jobs: [], pods: [], secrets: new Map([['shop/db', '']])}, options).plan
}

t.test('a valid request is recorded, defaults filled, in a valid plan', async (t) => {
  const p = plan(s3)
  t.same(validatePlan(p), [])
  t.same(p.tenants[0]!.workloads[0]!.s3Proxy, {upstream: 'https://s3.eu-central-1.amazonaws.com', region: 'eu-central-1', transitKey: 'shop-data', transitMount: 'transit', credentials: 'secret/data/prod-eu-1/shop/s3'})
  t.same(Object.keys(p.tenants[0]!.workloads[0]!).slice(-2), ['s3Proxy', 'status'], 'beside the secrets, before the status')
  const strict = plan({...s3, [Annotations.s3ProxyRequireEncrypted]: 'true'})
  t.equal(strict.tenants[0]!.workloads[0]!.s3Proxy!.requireEncrypted, true)
  t.same(validatePlan(strict), [])
})

t.test('nothing recorded without a request, for "false", or for settings the webhook would deny', async (t) => {
  t.notOk('s3Proxy' in plan().tenants[0]!.workloads[0]!)
  t.notOk('s3Proxy' in plan({...s3, [Annotations.s3Proxy]: 'false'}).tenants[0]!.workloads[0]!)
  t.notOk('s3Proxy' in plan({...s3, [Annotations.s3ProxyRegion]: 'EU'}).tenants[0]!.workloads[0]!)
})

t.test('the schema refuses an upstream with credentials or a path, and a non-KV-v2 credentials path', async (t) => {
  for (const [field, value] of [
    ['upstream', 'https://AKIA:x@s3.example'],
    ['upstream', 'https://s3.example/bucket'],
    ['credentials', 'secret/shop/s3'],
  ] as const) {
    const p = plan(s3)
    p.tenants[0]!.workloads[0]!.s3Proxy![field] = value
    t.ok(validatePlan(p).length > 0, `${field}: ${value}`)
  }
})

t.test('--update follows the pod template: added when asked for, removed when no longer', async (t) => {
  const added = mergeDiscovery(plan(), plan(s3), '2026-12-05T00:00:00Z').plan
  t.equal(added.tenants[0]!.workloads[0]!.s3Proxy?.transitKey, 'shop-data')
  t.same(validatePlan(added), [])
  const removed = mergeDiscovery(plan(s3), plan(), '2026-12-05T00:00:00Z').plan
  t.notOk('s3Proxy' in removed.tenants[0]!.workloads[0]!)
})
