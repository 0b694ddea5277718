// The pure transform: observed objects -> plan. One valid observation, one change per case.
import t from 'tap'
import type {V1PodSpec} from '@kubernetes/client-node'
import type {LiveWorkload} from '../../../lib/kube/pod-template.js'
import {buildPlan, clusterNameFrom, kernelProtectionDefault, renderPath, secretUses, tenantIdentity, DEFAULT_PATH_TEMPLATE, type DiscoverOptions, type Observed} from '../../../lib/discover/transform.js'
import {PROJECTED_REMAINS} from '../../../lib/protect/deliverable.js'
import {validatePlan} from '../../../lib/plan/validate.js'
import type {WorkloadKind} from '../../../lib/plan/types.generated.js'

const options: DiscoverOptions = {mount: 'secret', pathTemplate: DEFAULT_PATH_TEMPLATE, createdAt: '2026-11-23T00:00:00Z', createdBy: 'alice@laptop', toolVersion: '0.1.0'}
const FP = '0f6a4a36-4cf3-4d93-9f0b-5e2d8f6e1c2a'

const workload = (namespace: string, name: string, spec: V1PodSpec, extra: {replicas?: number; annotations?: Record<string, string>; labels?: Record<string, string>} = {}): LiveWorkload => ({
  metadata: {name, namespace},
  spec: {...(extra.replicas === undefined ? {} : {replicas: extra.replicas}), template: {metadata: {annotations: extra.annotations, labels: extra.labels}, spec}} as LiveWorkload['spec'],
})
const cronJob = (namespace: string, name: string, spec: V1PodSpec): LiveWorkload => ({metadata: {name, namespace}, spec: {jobTemplate: {spec: {template: {spec}}}}})
const envRef = (env: string, secret: string, key: string, optional?: boolean) => ({name: env, valueFrom: {secretKeyRef: {name: secret, key, ...(optional === undefined ? {} : {optional})}}})

function observed(workloads: Array<{kind: WorkloadKind; object: LiveWorkload}>, more: Partial<Observed> = {}): Observed {
  return {clusterName: 'prod-eu-1', fingerprint: FP, namespaces: ['shop', 'billing'], workloads, jobs: [], pods: [], secrets: new Map(['shop/db', 'shop/psp', 'shop/tls', 'billing/ledger'].map((s) => [s, ''])), ...more}
}

t.test('env secretKeyRef: fields as used today, references with index and optional', async (t) => {
  const r = buildPlan(observed([{kind: 'Deployment', object: workload('shop', 'api', {
    serviceAccountName: 'api',
    containers: [{name: 'app', image: 'app:1', env: [{name: 'LOG', value: 'info'}, envRef('DB_USER', 'db', 'username'), envRef('DB_PASSWORD', 'db', 'password', false)]}],
  }, {replicas: 3})}]), options)
  t.same(validatePlan(r.plan), [], 'valid plan')
  const w = r.plan.tenants[0]!.workloads[0]!
  t.match(w, {kind: 'Deployment', name: 'api', serviceAccount: 'api', replicas: 3, containers: [{name: 'app', image: 'app:1'}], status: {state: 'pending'}})
  t.same(w.secrets, [{
    source: {name: 'db'},
    vaultPath: 'secret/data/prod-eu-1/shop/db',
    fields: {password: 'DB_PASSWORD', username: 'DB_USER'},
    references: [
      {container: 'app', type: 'env', env: 'DB_USER', key: 'username', index: 1},
      {container: 'app', type: 'env', env: 'DB_PASSWORD', key: 'password', optional: false, index: 2},
    ],
  }])
  t.same(Object.keys(w.secrets[0]!.fields!), ['password', 'username'], 'fields sorted by key')
  t.match(r.plan.tenants[0], {name: 'shop', namespace: 'shop', policy: 'cloudtaser-prod-eu-1-shop', role: 'cloudtaser-prod-eu-1-shop'})
})

t.test('envFrom keeps its prefix; init containers are marked; no value is ever looked at', async (t) => {
  const {uses} = secretUses({spec: {
    initContainers: [{name: 'migrate', envFrom: [{secretRef: {name: 'db'}}]}],
    containers: [{name: 'app', envFrom: [{configMapRef: {name: 'cfg'}}, {prefix: 'PSP_', secretRef: {name: 'psp', optional: true}}]}],
  }})
  t.same(uses.get('db'), {fields: {}, envFrom: {}, files: [], references: [{container: 'migrate', init: true, type: 'envFrom', index: 0}], optionalAll: false})
  t.same(uses.get('psp'), {fields: {}, envFrom: {prefix: 'PSP_'}, files: [], references: [{container: 'app', type: 'envFrom', prefix: 'PSP_', optional: true, index: 1}], optionalAll: true})
  t.equal(uses.size, 2, 'the ConfigMap is not a Secret')
})

t.test('secret and projected volumes: every mount with what unprotect needs, deliverable unless projected (index: the volume\'s, or the source\'s in a projected volume)', async (t) => {
  const r = buildPlan(observed([{kind: 'StatefulSet', object: workload('shop', 'edge', {
    containers: [
      {name: 'nginx', volumeMounts: [{name: 'tls', mountPath: '/etc/tls'}, {name: 'creds', mountPath: '/creds'}]},
      {name: 'reloader', volumeMounts: [{name: 'tls', mountPath: '/watch', readOnly: true}]},
    ],
    volumes: [
      {name: 'cache', emptyDir: {}},
      {name: 'tls', secret: {secretName: 'tls', items: [{key: 'tls.crt', path: 'cert.pem', mode: 256}]}},
      {name: 'creds', projected: {sources: [{configMap: {name: 'x'}}, {secret: {name: 'db', optional: true}}, {serviceAccountToken: {path: 't'}}]}},
    ],
  })}]), options)
  t.same(validatePlan(r.plan), [])
  const [db, tls] = r.plan.tenants[0]!.workloads[0]!.secrets
  t.same(tls, {
    source: {name: 'tls'},
    vaultPath: 'secret/data/prod-eu-1/shop/tls',
    files: [
      {container: 'nginx', volume: 'tls', mountPath: '/etc/tls', mountIndex: 0, items: [{key: 'tls.crt', path: 'cert.pem', mode: 256}], deliverable: true},
      {container: 'reloader', volume: 'tls', mountPath: '/watch', readOnly: true, mountIndex: 0, items: [{key: 'tls.crt', path: 'cert.pem', mode: 256}], deliverable: true},
    ],
    references: [{container: 'nginx', type: 'volume', volume: 'tls', index: 1}],
  })
  t.same(db, {
    source: {name: 'db', optional: true},
    vaultPath: 'secret/data/prod-eu-1/shop/db',
    files: [{container: 'nginx', volume: 'creds', mountPath: '/creds', mountIndex: 1, deliverable: false}],
    references: [{container: 'nginx', type: 'projected', volume: 'creds', optional: true, index: 1, remains: PROJECTED_REMAINS}],
  })
  t.equal(r.filesNotDeliverable, 1, 'only the projected mount stays')
  t.equal(r.plan.tenants[0]!.workloads[0]!.replicas, 1, 'a StatefulSet without replicas means 1')
})

t.test('imagePullSecrets are not application secrets: counted, never mapped', async (t) => {
  const r = buildPlan(observed([{kind: 'Deployment', object: workload('shop', 'web', {imagePullSecrets: [{name: 'regcred'}], containers: [{name: 'web', env: [envRef('K', 'db', 'k')]}]})}]), options)
  t.equal(r.imagePullSecretsIgnored, 1)
  t.same(r.plan.tenants[0]!.workloads[0]!.secrets.map((s) => s.source.name), ['db'])
})

t.test('missing Secrets are flagged; optional only when every reference is optional', async (t) => {
  const r = buildPlan(observed([{kind: 'Deployment', object: workload('shop', 'web', {containers: [
    {name: 'a', env: [envRef('F', 'flags', 'key', true), envRef('P', 'db', 'password', true)]},
    {name: 'b', env: [envRef('P', 'db', 'password')]},
  ]})}]), options)
  const [db, flags] = r.plan.tenants[0]!.workloads[0]!.secrets
  t.same(db!.source, {name: 'db'}, 'one mandatory reference: not optional')
  t.same(flags!.source, {name: 'flags', missing: true, optional: true})
  t.same(r.missingSecrets, ['shop/flags'])
})

t.test('one field read under two names: every name is mapped, in the order found, and both references kept', async (t) => {
  const r = buildPlan(observed([{kind: 'Deployment', object: workload('shop', 'web', {containers: [{name: 'a', env: [envRef('PGPASSWORD', 'db', 'password'), envRef('DB_PASSWORD', 'db', 'password')]}]})}]), options)
  const db = r.plan.tenants[0]!.workloads[0]!.secrets[0]!
  t.same(db.fields, {password: ['PGPASSWORD', 'DB_PASSWORD']})
  t.equal(db.references!.length, 2)
  t.same(validatePlan(r.plan), [])
})

t.test('skips injected workloads, lists Vault-injected ones, workloads without Secrets and out-of-scope namespaces', async (t) => {
  const spec: V1PodSpec = {containers: [{name: 'a', env: [envRef('P', 'db', 'password')]}]}
  const r = buildPlan(observed([
    {kind: 'Deployment', object: workload('shop', 'injected', spec, {annotations: {'cloudtaser.io/inject': 'true'}})},
    {kind: 'Deployment', object: workload('shop', 'labelled', spec, {labels: {'cloudtaser.io/inject': 'true'}})},
    {kind: 'Deployment', object: workload('shop', 'vaulted', spec, {annotations: {'vault.hashicorp.com/agent-inject': 'true'}})},
    {kind: 'Deployment', object: workload('shop', 'plain', {containers: [{name: 'a', env: [{name: 'A', value: 'b'}]}]})},
    {kind: 'Deployment', object: workload('kube-system', 'sys', spec)},
  ]), options)
  t.same(r.alreadyInjected, [{kind: 'Deployment', namespace: 'shop', name: 'injected'}, {kind: 'Deployment', namespace: 'shop', name: 'labelled'}])
  t.same(r.plan.vaultInjected, [{kind: 'Deployment', namespace: 'shop', name: 'vaulted', secrets: ['db'], reason: 'uses the Vault agent injector (vault.hashicorp.com/agent-inject)'}])
  t.same(r.plan.tenants, [], 'no tenant for a namespace without workloads to migrate')
})

t.test('bare Pods and Jobs are not protectable; CronJob-owned Jobs and controller-owned Pods are not listed', async (t) => {
  const spec: V1PodSpec = {containers: [{name: 'a', env: [envRef('P', 'db', 'password')]}]}
  const r = buildPlan(observed([{kind: 'CronJob', object: cronJob('shop', 'nightly', spec)}], {
    jobs: [
      {metadata: {name: 'once', namespace: 'shop'}, spec: {template: {spec}}},
      {metadata: {name: 'nightly-123', namespace: 'shop', ownerReferences: [{kind: 'CronJob'}]} as LiveWorkload['metadata'], spec: {template: {spec}}},
    ],
    pods: [
      {metadata: {name: 'debug', namespace: 'shop'}, spec} as LiveWorkload,
      {metadata: {name: 'api-x', namespace: 'shop', ownerReferences: [{kind: 'ReplicaSet'}]} as LiveWorkload['metadata']} as LiveWorkload,
      {metadata: {name: 'elsewhere', namespace: 'other'}, spec} as LiveWorkload,
    ],
  }), options)
  t.same(r.plan.notProtectable?.map((w) => `${w.kind}/${w.name}`), ['Job/once', 'Pod/debug'])
  const cj = r.plan.tenants[0]!.workloads[0]!
  t.equal(cj.kind, 'CronJob')
  t.notOk('replicas' in cj, 'a CronJob has no replicas')
  t.same(validatePlan(r.plan), [])
})

t.test('sorted output: tenants by namespace, workloads by kind then name, secrets by name; input order does not matter', async (t) => {
  const spec = (s: string): V1PodSpec => ({containers: [{name: 'a', env: [envRef('Z', s, 'z'), envRef('A', 'db', 'a')]}]})
  const items: Array<{kind: WorkloadKind; object: LiveWorkload}> = [
    {kind: 'CronJob', object: cronJob('shop', 'a-cron', spec('psp'))},
    {kind: 'Deployment', object: workload('shop', 'zeta', spec('tls'))},
    {kind: 'Deployment', object: workload('billing', 'x', spec('ledger'))},
    {kind: 'StatefulSet', object: workload('shop', 'alpha', spec('psp'))},
    {kind: 'Deployment', object: workload('shop', 'beta', spec('psp'))},
  ]
  const a = buildPlan(observed(items), options)
  const b = buildPlan(observed([...items].reverse()), options)
  t.same(a.plan, b.plan)
  t.same(a.plan.tenants.map((x) => x.namespace), ['billing', 'shop'])
  t.same(a.plan.tenants[1]!.workloads.map((w) => `${w.kind}/${w.name}`), ['Deployment/beta', 'Deployment/zeta', 'StatefulSet/alpha', 'CronJob/a-cron'])
  t.same(a.plan.tenants[1]!.workloads[0]!.secrets.map((s) => s.source.name), ['db', 'psp'])
})

t.test('metadata: cluster name, fingerprint, server, createdAt, createdBy, Git; openbao section', async (t) => {
  const r = buildPlan(observed([], {server: 'https://127.0.0.1:6443'}), {...options, vaultAddress: 'https://bao.example.eu', authMount: 'kubernetes/prod', git: {branch: 'main'}})
  t.same(r.plan.metadata, {name: 'prod-eu-1', cluster: {name: 'prod-eu-1', fingerprint: FP, server: 'https://127.0.0.1:6443'}, createdAt: options.createdAt, createdBy: 'alice@laptop', toolVersion: '0.1.0', git: {branch: 'main'}})
  t.same(r.plan.openbao, {address: 'https://bao.example.eu', kvMount: 'secret', authMount: 'kubernetes/prod'})
  t.same(validatePlan(r.plan), [])
})

t.test('path template, tenant identity and cluster names', async (t) => {
  t.equal(renderPath('{mount}/data/eu/{cluster}/{namespace}/{secret}', {mount: 'kv', cluster: 'c', namespace: 'n', secret: 's'}), 'kv/data/eu/c/n/s')
  t.equal(renderPath('{mount}/data/{unknown}', {mount: 'kv'}), 'kv/data/{unknown}', 'unknown placeholders stay visible (and fail validation)')
  t.equal(tenantIdentity('prod', 'shop'), 'cloudtaser-prod-shop')
  t.equal(tenantIdentity('prod.eu', 'shop'), 'cloudtaser-prod-eu-shop', 'DNS label: no dots')
  const long = tenantIdentity('c'.repeat(63), 'n'.repeat(63))
  t.ok(long.length <= 63, 'fits a DNS label')
  t.match(long, /^cloudtaser-c+-[0-9a-f]{10}$/)
  t.not(long, tenantIdentity('c'.repeat(63), `${'n'.repeat(62)}m`), 'the hash keeps long names apart')
  t.equal(clusterNameFrom('arn:aws:eks:eu-central-1:123:cluster/Prod'), 'arn-aws-eks-eu-central-1-123-cluster-prod')
  t.equal(clusterNameFrom('--'), 'cluster')
})

t.test('kernelProtection default: required only when every node enforces', async (t) => {
  t.equal(kernelProtectionDefault(['enforce', 'enforce']).value, 'required')
  t.match(kernelProtectionDefault(['enforce', 'degraded', undefined]), {value: 'preferred', why: /1 of 3 node\(s\) enforce \(the others: degraded, no agent\)/})
  t.match(kernelProtectionDefault([undefined]), {value: 'preferred', why: /no node has a cloudtaser eBPF agent/})
  t.match(kernelProtectionDefault('forbidden'), {value: 'preferred', why: /cannot list nodes/})
  t.match(kernelProtectionDefault([]), {value: 'preferred', why: /no nodes/})
})
