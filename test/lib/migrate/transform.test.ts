// The pure decisions of target migrate, without any server: which Secrets a plan moves, what
// copy, finalize, rollback and --check decide from observations, who references a Secret.
import t from 'tap'
import type {V1Pod} from '@kubernetes/client-node'
import type {SecretMeta} from '../../../lib/kube/secret-values.js'
import {podsOf, secretUsers, type NamespaceObjects} from '../../../lib/migrate/references.js'
import {classify, copyRecord, planFinalize, planRollback, planWrite, precheck, type FinalizeObserved, type SourceObservation} from '../../../lib/migrate/transform.js'
import {keepReason, recordableMetadata, unitsOf, upsertRecord} from '../../../lib/migrate/units.js'
import {validatePlan} from '../../../lib/plan/validate.js'
import type {MigratedSecret, MigrationPlan} from '../../../lib/plan/types.generated.js'

const plan = (): MigrationPlan => ({
  apiVersion: 'cloudtaser.io/v1',
  kind: 'MigrationPlan',
  metadata: {name: 'unit'},
  tenants: [
    {
      name: 'shop',
      namespace: 'shop',
      workloads: [
        {kind: 'Deployment', name: 'api', secrets: [{source: {name: 'db'}, vaultPath: 'secret/data/shop/db', fields: {password: 'DB_PASSWORD'}}, {source: {name: 'opt', optional: true}, vaultPath: 'secret/data/shop/opt', envFrom: {}}], status: {state: 'pending'}},
        {kind: 'CronJob', name: 'report', secrets: [{source: {name: 'db'}, vaultPath: 'secret/data/shop/db', files: [{container: 'r', mountPath: '/etc/db', items: [{key: 'user', path: 'u'}]}]}], status: {state: 'pending'}},
        {kind: 'Deployment', name: 'old', vanished: true, secrets: [{source: {name: 'gone'}, vaultPath: 'secret/data/shop/gone'}], status: {state: 'pending'}},
        {kind: 'Deployment', name: 'later', secrets: [{source: {name: 'later'}, vaultPath: 'secret/data/shop/later'}], status: {state: 'skipped', reason: 'later'}},
      ],
    },
  ],
})

const meta = (over: Partial<SecretMeta> = {}): SecretMeta => ({namespace: 'shop', name: 'db', uid: '0f6a4a36-4cf3-4d93-9f0b-5e2d8f6e1c2a', resourceVersion: '10', type: 'Opaque', labels: {}, annotations: {}, skippedAnnotations: [], ...over})
const source = (over: Partial<SecretMeta> = {}, fields = ['password', 'user']): SourceObservation => ({meta: meta(over), fields, binaryFields: []})
const record = (over: Partial<MigratedSecret> = {}): MigratedSecret => ({name: 'db', vaultPath: 'secret/data/shop/db', state: 'copied', copy: {at: '2026-01-01T00:00:00Z', by: 'a@b', kvVersion: 1, digest: 'hmac-sha256', sourceUid: '0f6a4a36-4cf3-4d93-9f0b-5e2d8f6e1c2a', sourceResourceVersion: '10'}, ...over})

t.test('unitsOf: one unit per Secret of the active workloads, fields unioned, optional only if every reference is', async (t) => {
  const units = unitsOf(plan())
  t.same(units.map((u) => u.name), ['db', 'opt'], 'vanished and skipped workloads bring no Secret')
  t.match(units[0], {mount: 'secret', path: 'shop/db', requiredFields: ['password', 'user'], optional: false, workloads: ['Deployment/api', 'CronJob/report']})
  t.equal(units[1]!.optional, true)
  const p = plan()
  p.tenants[0]!.workloads[1]!.secrets[0]!.vaultPath = 'secret/data/shop/db2'
  t.throws(() => unitsOf(p), {code: 'MIGRATE_PATH_AMBIGUOUS', message: /shop\/db is mapped to two OpenBao paths: secret\/data\/shop\/db \(Deployment\/api\) and secret\/data\/shop\/db2 \(CronJob\/report\)/})
  const q = plan()
  q.tenants[0]!.secrets = [record({vaultPath: 'secret/data/elsewhere'})]
  t.equal(unitsOf(q)[0]!.record, undefined, 'a record for another path is not this unit\'s')
  q.tenants[0]!.secrets = [record()]
  t.ok(unitsOf(q)[0]!.record)
})

t.test('precheck: absent, missing fields, already copied, re-created after finalize', async (t) => {
  const [db, opt] = unitsOf(plan())
  t.same(precheck(db!, undefined), {kind: 'fail', reason: 'no such Secret in the cluster'})
  t.match(precheck(opt!, undefined), {kind: 'skip'})
  t.same(precheck(db!, source({}, ['password'])), {kind: 'fail', reason: 'the Secret lacks field(s) the plan maps: user'})
  t.equal(precheck(db!, source()), undefined, 'not copied yet: go on to OpenBao')
  t.match(precheck({...db!, record: record()}, source()), {kind: 'already'})
  t.equal(precheck({...db!, record: record()}, source({resourceVersion: '11'})), undefined, 'changed since the copy: compare again')
  t.equal(precheck({...db!, record: record()}, source({uid: '1f6a4a36-4cf3-4d93-9f0b-5e2d8f6e1c2a'})), undefined, 're-created object: compare again')
  t.match(precheck({...db!, record: record({state: 'deleted'})}, undefined), {kind: 'already', reason: /finalized/})
  t.match(precheck({...db!, record: record({state: 'deleted', deletion: {at: '2026-01-02T00:00:00Z', by: 'a@b'}})}, source()), {kind: 'drift', reason: /re-created in Kubernetes after finalize deleted it \(2026-01-02T00:00:00Z\)/})
})

t.test('planWrite: check-and-set for every write; equal is recorded; different is a conflict unless overwriting', async (t) => {
  t.same(planWrite({state: 'unread'}, false), {kind: 'create', cas: 0})
  t.same(planWrite({state: 'missing'}, false), {kind: 'create', cas: 0})
  t.same(planWrite({state: 'deleted', version: 3}, false), {kind: 'create', cas: 3}, 'a deleted current version is replaced at its number')
  t.same(planWrite({state: 'destroyed', version: 4}, false), {kind: 'create', cas: 4})
  t.same(planWrite({state: 'ok', version: 2, equal: true}, false), {kind: 'record', version: 2})
  t.same(planWrite({state: 'ok', version: 2, equal: false, differing: ['a (differs)']}, false), {kind: 'conflict', differing: ['a (differs)']})
  t.same(planWrite({state: 'ok', version: 2, equal: false}, true), {kind: 'update', cas: 2})
})

t.test('copyRecord and recordableMetadata: names, types, versions; nothing a value could be recovered from', async (t) => {
  const m = meta({
    type: 'kubernetes.io/dockerconfigjson',
    labels: {app: 'api', hash: 'Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFy'},
    annotations: {owner: 'team', 'checksum/secret': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', note: 'token ghp_abcdefghijklmnopqrstuvwxyz0123456789'},
    skippedAnnotations: ['kubectl.kubernetes.io/last-applied-configuration'],
    immutable: true,
  })
  const r = copyRecord(unitsOf(plan())[0]!, {meta: m, fields: ['b', 'a'], binaryFields: ['b']}, 3, 'me@host', '2026-01-01T00:00:00Z')
  t.same(r, {
    name: 'db',
    vaultPath: 'secret/data/shop/db',
    state: 'copied',
    type: 'kubernetes.io/dockerconfigjson',
    immutable: true,
    labels: {app: 'api'},
    annotations: {owner: 'team'},
    omittedAnnotations: ['checksum/secret', 'kubectl.kubernetes.io/last-applied-configuration', 'note'],
    omittedLabels: ['hash'],
    fields: ['a', 'b'],
    base64Fields: ['b'],
    keep: keepReason('kubernetes.io/dockerconfigjson'),
    copy: {at: '2026-01-01T00:00:00Z', by: 'me@host', kvVersion: 3, digest: 'hmac-sha256', sourceUid: '0f6a4a36-4cf3-4d93-9f0b-5e2d8f6e1c2a', sourceResourceVersion: '10'},
  })
  const p = plan()
  upsertRecord(p.tenants[0]!, r)
  upsertRecord(p.tenants[0]!, {...r, state: 'deleted'})
  t.equal(p.tenants[0]!.secrets!.length, 1, 'one record per Secret')
  t.same(validatePlan(p), [], 'the plan with the record is valid')
  t.same(recordableMetadata(meta()), {}, 'nothing to record, nothing written')
  t.match(keepReason('kubernetes.io/service-account-token'), /invalidates it when the Secret is deleted/)
  t.equal(keepReason('Opaque'), undefined)
})

const observed = (over: Partial<FinalizeObserved> = {}): FinalizeObserved => ({
  source: meta(),
  kv: 'ok',
  equal: true,
  workloads: [{ref: 'Deployment/api', state: 'migrated', replicas: 2, pods: [{name: 'api-1', wrapped: true, ready: true, done: false}, {name: 'api-2', wrapped: true, ready: true, done: false}]}],
  users: [],
  ...over,
})

t.test('planFinalize: a binary field is deleted only once the Pods decode it', async (t) => {
  const binary = record({base64Fields: ['ks.p12']})
  const pods = (b64?: Record<string, string[]>) => observed({workloads: [{ref: 'Deployment/api', state: 'migrated', replicas: 1, pods: [{name: 'api-1', wrapped: true, ready: true, done: false, ...(b64 ? {base64Fields: b64} : {})}]}]})
  t.same(planFinalize(binary, pods()), {kind: 'keep', reasons: ['Deployment/api: Pod api-1 would get binary field(s) ks.p12 base64-encoded (protected before target migrate recorded them): run `target protect` again']})
  t.same(planFinalize(binary, pods({'secret/data/other': ['ks.p12']})).kind, 'keep', 'another path does not count')
  t.same(planFinalize(binary, pods({[binary.vaultPath]: ['ks.p12']})).kind, 'delete')
})

t.test('planFinalize: delete only when every condition holds; otherwise every reason', async (t) => {
  t.same(planFinalize(record(), observed()), {kind: 'delete', uid: '0f6a4a36-4cf3-4d93-9f0b-5e2d8f6e1c2a', resourceVersion: '10'})
  t.same(planFinalize(undefined, observed()), {kind: 'keep', reasons: ['not copied to OpenBao yet: run `target migrate` first']})
  t.match(planFinalize(record(), observed({source: undefined})), {kind: 'already'})
  t.match(planFinalize(undefined, observed({source: undefined})), {kind: 'already', reason: 'the Kubernetes Secret is already gone'}, 'an optional Secret that never existed')
  const bad = planFinalize(
    record({keep: 'an image pull secret'}),
    observed({
      kv: 'deleted',
      workloads: [
        {ref: 'Deployment/api', state: 'migrated', replicas: 2, pods: [{name: 'api-1', wrapped: false, ready: true, done: false}, {name: 'api-2', wrapped: true, ready: false, done: false}, {name: 'api-0', wrapped: false, ready: false, done: true}]},
        {ref: 'CronJob/report', state: 'skipped', pods: []},
        {ref: 'StatefulSet/db', state: 'migrated', remains: 'a projected volume', pods: []},
        {ref: 'Deployment/new', state: 'migrated', replicas: 1, pods: []},
      ],
      users: ['Ingress/web: tls for web.example.eu'],
    }),
  )
  t.same(bad, {
    kind: 'keep',
    reasons: [
      'an image pull secret',
      'OpenBao no longer holds KV version 1 of secret/data/shop/db (deleted): the Secret is the only copy',
      'Deployment/api: Pod api-1 does not run under the wrapper',
      'Deployment/api: Pod api-2 is not Ready',
      'CronJob/report is skipped in the plan: it still reads the Secret',
      'StatefulSet/db keeps a reference to it: a projected volume',
      'Deployment/new: no Pods yet (wait for its rollout)',
      'still used by Ingress/web: tls for web.example.eu',
    ],
  }, 'a finished Pod does not count')
  t.match(planFinalize(record(), observed({equal: false, differing: ['password (differs)']})), {kind: 'keep', reasons: ['the Secret changed since it was copied (password (differs)): run `target migrate` (with --overwrite) first']})
  t.match(planFinalize(record({state: 'restored', restore: {at: '2026-01-03T00:00:00Z', by: 'a@b', kvVersion: 2}}), observed({kv: 'missing'})), {kind: 'keep', reasons: [/KV version 2/]}, 'a restored Secret is compared with the version it came from')
})

t.test('planRollback and classify', async (t) => {
  t.same(planRollback(record({state: 'deleted'}), undefined), {kind: 'recreate'})
  t.match(planRollback(record({state: 'deleted'}), meta()), {kind: 'present', reason: /re-created outside cloudtaser/})
  t.equal(classify(undefined, {kv: {state: 'missing'}}).state, 'not-copied')
  t.equal(classify(record(), {source: meta(), kv: {state: 'ok', current: 1}}).state, 'in-sync')
  t.equal(classify(record(), {source: meta(), kv: {state: 'deleted', current: 1}}).state, 'missing-in-openbao')
  t.equal(classify(record({state: 'deleted'}), {kv: {state: 'ok', current: 1}}).state, 'finalized')
  t.equal(classify(record({state: 'deleted'}), {source: meta({uid: '9f6a4a36-4cf3-4d93-9f0b-5e2d8f6e1c2a'}), kv: {state: 'ok', current: 1}}).state, 'recreated')
  t.equal(classify(record(), {kv: {state: 'ok', current: 1}}).state, 'source-gone')
  t.same(classify(record(), {source: meta(), kv: {state: 'ok', current: 1}, equalsExpected: false, differing: ['a (differs)']}), {state: 'changed-in-kubernetes', detail: 'differs from KV version 1: a (differs)'})
  t.equal(classify(record(), {source: meta(), kv: {state: 'ok', current: 2}, equalsExpected: false, equalsCurrent: true}).state, 'in-sync', 'changed in both places alike')
  t.match(classify(record(), {source: meta(), kv: {state: 'ok', current: 3}}), {state: 'rotated-in-openbao', detail: /OpenBao is at version 3/})
})

const pod = (name: string, owner: {kind: string; name: string; uid: string} | undefined, spec: V1Pod['spec'], phase = 'Running'): V1Pod => ({
  metadata: {name, uid: `pod-${name}`, ...(owner ? {ownerReferences: [{apiVersion: 'v1', kind: owner.kind, name: owner.name, uid: owner.uid, controller: true}]} : {})},
  spec,
  status: {phase},
})
const empty = (): NamespaceObjects => ({pods: [], replicaSets: [], deployments: [], statefulSets: [], daemonSets: [], jobs: [], cronJobs: [], replicationControllers: [], serviceAccounts: [], ingresses: []})

t.test('secretUsers: every way a namespace can name a Secret; history is not use', async (t) => {
  const o = empty()
  o.pods.push(
    pod('p', undefined, {
      containers: [{name: 'c', env: [{name: 'A', valueFrom: {secretKeyRef: {name: 's-env', key: 'k'}}}], envFrom: [{secretRef: {name: 's-envfrom'}}]}],
      initContainers: [{name: 'i', env: [{name: 'B', valueFrom: {secretKeyRef: {name: 's-init', key: 'k'}}}]}],
      imagePullSecrets: [{name: 's-pull'}],
      volumes: [
        {name: 'v', secret: {secretName: 's-vol'}},
        {name: 'pr', projected: {sources: [{secret: {name: 's-proj'}}]}},
        {name: 'csi', csi: {driver: 'x', nodePublishSecretRef: {name: 's-csi'}}},
        {name: 'az', azureFile: {secretName: 's-az', shareName: 'x'}},
        {name: 'ceph', cephfs: {monitors: [], secretRef: {name: 's-ceph'}}},
      ],
    }),
    pod('done', undefined, {containers: [{name: 'c', envFrom: [{secretRef: {name: 's-finished'}}]}]}, 'Succeeded'),
  )
  o.replicaSets.push(
    {metadata: {name: 'rs-old', uid: 'rs1', ownerReferences: [{apiVersion: 'apps/v1', kind: 'Deployment', name: 'd', uid: 'd1', controller: true}]}, spec: {replicas: 0, selector: {}, template: {spec: {containers: [{name: 'c', envFrom: [{secretRef: {name: 's-history'}}]}]}}}, status: {replicas: 0}},
    {metadata: {name: 'rs-lone', uid: 'rs2'}, spec: {replicas: 0, selector: {}, template: {spec: {containers: [{name: 'c', envFrom: [{secretRef: {name: 's-lone-rs'}}]}]}}}},
  )
  o.jobs.push({metadata: {name: 'j'}, spec: {template: {spec: {containers: [{name: 'c', envFrom: [{secretRef: {name: 's-job-done'}}]}]}}}, status: {conditions: [{type: 'Complete', status: 'True'}]}})
  o.cronJobs.push({metadata: {name: 'cj'}, spec: {schedule: '* * * * *', jobTemplate: {spec: {template: {spec: {containers: [{name: 'c', envFrom: [{secretRef: {name: 's-cron'}}]}]}}}}}})
  o.serviceAccounts.push({metadata: {name: 'sa'}, imagePullSecrets: [{name: 's-pull'}], secrets: [{name: 's-sa'}]})
  o.ingresses.push({metadata: {name: 'web'}, spec: {tls: [{hosts: ['a.eu', 'b.eu'], secretName: 's-tls'}, {secretName: 's-tls-default'}]}})
  const u = secretUsers(o)
  t.same(Object.fromEntries(u), {
    's-pull': ['Pod/p: imagePullSecrets', 'ServiceAccount/sa: imagePullSecrets'],
    's-init': ['Pod/p: env B in init container i'],
    's-env': ['Pod/p: env A in container c'],
    's-envfrom': ['Pod/p: envFrom in container c'],
    's-vol': ['Pod/p: volume v'],
    's-proj': ['Pod/p: projected volume pr'],
    's-csi': ['Pod/p: volume csi'],
    's-az': ['Pod/p: volume az'],
    's-ceph': ['Pod/p: volume ceph'],
    's-lone-rs': ['ReplicaSet/rs-lone: envFrom in container c'],
    's-cron': ['CronJob/cj: envFrom in container c'],
    's-sa': ['ServiceAccount/sa: secrets'],
    's-tls': ['Ingress/web: tls for a.eu, b.eu'],
    's-tls-default': ['Ingress/web: tls for all hosts'],
  }, 'a finished Pod, a finished Job and a Deployment\'s scaled-down ReplicaSet are history')
})

t.test('podsOf: through the owner chain', async (t) => {
  const o = empty()
  o.replicaSets.push({metadata: {name: 'api-1', uid: 'rs1', ownerReferences: [{apiVersion: 'apps/v1', kind: 'Deployment', name: 'api', uid: 'd1', controller: true}]}, spec: {selector: {}}})
  o.jobs.push({metadata: {name: 'report-1', uid: 'j1', ownerReferences: [{apiVersion: 'batch/v1', kind: 'CronJob', name: 'report', uid: 'c1', controller: true}]}})
  o.pods.push(
    pod('api-1-a', {kind: 'ReplicaSet', name: 'api-1', uid: 'rs1'}, {containers: [], initContainers: [{name: 'cloudtaser-init'}]}),
    pod('report-1-a', {kind: 'Job', name: 'report-1', uid: 'j1'}, {containers: []}, 'Succeeded'),
    pod('db-0', {kind: 'StatefulSet', name: 'db', uid: 's1'}, {containers: []}),
    pod('stray', undefined, {containers: []}),
  )
  o.pods[0]!.status!.conditions = [{type: 'Ready', status: 'True'}]
  t.same(podsOf(o, 'Deployment', 'api'), [{name: 'api-1-a', wrapped: true, ready: true, done: false}])
  t.same(podsOf(o, 'CronJob', 'report'), [{name: 'report-1-a', wrapped: false, ready: false, done: true}])
  t.same(podsOf(o, 'StatefulSet', 'db').map((p) => p.name), ['db-0'])
  t.same(podsOf(o, 'Deployment', 'other'), [])
})
