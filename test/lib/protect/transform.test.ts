import t from 'tap'
import {computeProtect, computeUnprotect} from '../../../lib/protect/transform.js'
import type {LiveWorkload} from '../../../lib/kube/pod-template.js'
import type {MigrationPlan, Workload} from '../../../lib/plan/types.generated.js'

const live = (): LiveWorkload => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: {name: 'api', namespace: 'payments', resourceVersion: '42', generation: 3},
  spec: {
    template: {
      metadata: {labels: {app: 'api'}},
      spec: {
        initContainers: [{name: 'migrate', image: 'm', env: [{name: 'PGPASSWORD', valueFrom: {secretKeyRef: {name: 'db', key: 'password'}}}]}],
        containers: [
          {
            name: 'api',
            image: 'a',
            env: [
              {name: 'LOG_LEVEL', value: 'info'},
              {name: 'PGPASSWORD', valueFrom: {secretKeyRef: {name: 'db', key: 'password'}}},
              {name: 'PGUSER', valueFrom: {secretKeyRef: {name: 'db', key: 'username', optional: false}}},
              {name: 'OTHER', valueFrom: {secretKeyRef: {name: 'unplanned', key: 'x'}}},
              {name: 'DB_HOST', valueFrom: {secretKeyRef: {name: 'db', key: 'host'}}},
            ],
            envFrom: [{configMapRef: {name: 'cfg'}}, {prefix: 'PSP_', secretRef: {name: 'psp'}}],
            volumeMounts: [{name: 'tls', mountPath: '/tls'}],
          },
        ],
        volumes: [{name: 'tls', secret: {secretName: 'tls'}}],
      },
    },
  },
})

const workload = (): Workload => ({
  kind: 'Deployment',
  name: 'api',
  serviceAccount: 'api',
  secrets: [
    // As discover records it: the init container's reference is what has the webhook wrap `migrate`.
    {source: {name: 'db'}, vaultPath: 'secret/data/c/payments/db', fields: {password: 'PGPASSWORD', username: 'PGUSER'}, references: [{container: 'migrate', init: true, type: 'env', env: 'PGPASSWORD', key: 'password', index: 0}]},
    {source: {name: 'psp'}, vaultPath: 'secret/data/c/payments/psp', envFrom: {prefix: 'PSP_'}},
    {source: {name: 'tls'}, vaultPath: 'secret/data/c/payments/tls', files: [{container: 'api', mountPath: '/tls', deliverable: false}]},
  ],
  status: {state: 'pending'},
})

const plan = (w: Workload): MigrationPlan => ({
  apiVersion: 'cloudtaser.io/v1',
  kind: 'MigrationPlan',
  metadata: {name: 'c'},
  openbao: {authMount: 'kubernetes/c'},
  tenants: [{name: 'payments', namespace: 'payments', role: 'cloudtaser-c-payments', workloads: [w]}],
})

const settings = {vaultAddress: 'https://bao.example.eu:8200'}

t.test('protect: annotations, label, mapped references removed, the rest kept', async (t) => {
  const w = workload()
  const p = plan(w)
  const c = computeProtect(p, p.tenants[0]!, w, live(), settings)
  t.equal(c.action, 'protect')
  t.same(c.annotations, {
    'cloudtaser.io/inject': 'true',
    'cloudtaser.io/vault-address': 'https://bao.example.eu:8200',
    'cloudtaser.io/vault-role': 'cloudtaser-c-payments',
    'cloudtaser.io/secret-paths': 'secret/data/c/payments/db,secret/data/c/payments/psp',
    'cloudtaser.io/env-map': 'password=PGPASSWORD,username=PGUSER;*=PSP_',
    'cloudtaser.io/ebpf': 'true',
    'cloudtaser.io/ebpf-fail': 'closed',
    'cloudtaser.io/init-containers': 'migrate',
    'cloudtaser.io/vault-auth-path': 'auth/kubernetes/c',
  })
  const tpl = c.next.spec!.template!
  t.equal(tpl.metadata!.labels!['cloudtaser.io/inject'], 'true', 'label for the webhook objectSelector')
  t.same(tpl.spec!.containers[0]!.env!.map((e) => e.name), ['LOG_LEVEL', 'OTHER', 'DB_HOST'])
  t.same(tpl.spec!.containers[0]!.envFrom, [{configMapRef: {name: 'cfg'}}])
  t.equal(tpl.spec!.initContainers![0]!.env, undefined, 'init container refs removed too')
  t.same(tpl.spec!.volumes, [{name: 'tls', secret: {secretName: 'tls'}}], 'file volumes stay until the wrapper delivers files')
  t.same(c.references.db, [
    {container: 'migrate', init: true, type: 'env', env: 'PGPASSWORD', key: 'password', index: 0},
    {container: 'api', type: 'env', env: 'PGPASSWORD', key: 'password', index: 1},
    {container: 'api', type: 'env', env: 'PGUSER', key: 'username', optional: false, index: 2},
    {container: 'api', type: 'env', env: 'DB_HOST', key: 'host', index: 4, remains: 'DB_HOST (key host) is not mapped in the plan'},
  ])
  t.same(c.references.psp, [{container: 'api', type: 'envFrom', prefix: 'PSP_', index: 1}])
  t.match(c.kept, [{secret: 'db', why: /DB_HOST/}, {secret: 'tls', type: 'volume'}])
  t.same(c.delivered, ['PGPASSWORD', 'PGUSER', 'PSP_*'])
  t.equal(c.next.metadata!.resourceVersion, '42', 'the PUT is conditional on what we read')
})

t.test('protect is idempotent: the protected object needs nothing', async (t) => {
  const w = workload()
  const p = plan(w)
  const first = computeProtect(p, p.tenants[0]!, w, live(), settings)
  const second = computeProtect(p, p.tenants[0]!, w, first.next, settings)
  t.equal(second.action, 'unchanged')
  t.same(second.next, first.next)
})

t.test('unprotect restores the original spec exactly', async (t) => {
  const w = workload()
  const p = plan(w)
  const original = live()
  const c = computeProtect(p, p.tenants[0]!, w, original, settings)
  for (const s of w.secrets) s.references = c.references[s.source.name]
  const back = computeUnprotect(w, c.next)
  t.equal(back.action, 'unprotect')
  t.equal(back.restored, 4)
  t.same(back.next, original)
  t.equal(computeUnprotect(w, back.next).action, 'unchanged', 'a second unprotect does nothing')
})

t.test('CronJob templates are one level deeper', async (t) => {
  const w: Workload = {kind: 'CronJob', name: 'reindex', kernelProtection: 'off', secrets: [{source: {name: 'es'}, vaultPath: 'secret/data/c/s/es', fields: {k: 'K'}}], status: {state: 'pending'}}
  const p = plan(w)
  const cj: LiveWorkload = {
    metadata: {name: 'reindex', namespace: 'payments'},
    spec: {jobTemplate: {spec: {template: {spec: {containers: [{name: 'r', env: [{name: 'K', valueFrom: {secretKeyRef: {name: 'es', key: 'k'}}}]}]}}}}},
  }
  const c = computeProtect(p, p.tenants[0]!, w, cj, settings)
  t.equal(c.next.spec!.jobTemplate!.spec!.template!.spec!.containers[0]!.env, undefined)
  t.equal(c.annotations['cloudtaser.io/ebpf'], 'false', 'kernelProtection off: no registration')
  t.notOk('cloudtaser.io/ebpf-fail' in c.annotations)
})

t.test('kernelProtection: absent means required (fail closed); preferred registers and fails open', async (t) => {
  for (const [k, fail] of [[undefined, 'closed'], ['required', 'closed'], ['preferred', 'open']] as const) {
    const w = {...workload(), ...(k ? {kernelProtection: k} : {})}
    const p = plan(w)
    const a = computeProtect(p, p.tenants[0]!, w, live(), settings).annotations
    t.equal(a['cloudtaser.io/ebpf'], 'true', `${k ?? 'absent'}: registers`)
    t.equal(a['cloudtaser.io/ebpf-fail'], fail, `${k ?? 'absent'}: ebpf-fail ${fail}`)
  }
})

t.test('files: a deliverable Secret volume becomes the wrapper\'s files (file-map), mounts and volume go; unprotect puts them back exactly', async (t) => {
  const w = workload()
  w.secrets[2] = {
    source: {name: 'tls'},
    vaultPath: 'secret/data/c/payments/tls',
    files: [{container: 'api', volume: 'tls', mountPath: '/tls', mountIndex: 0, defaultMode: 256, items: [{key: 'tls.crt', path: 'cert.pem', mode: 292}], deliverable: true}],
    references: [{container: 'api', type: 'volume', volume: 'tls', index: 0}],
  }
  const p = plan(w)
  const original = live()
  const tpl0 = original.spec!.template!
  tpl0.spec!.volumes = [{name: 'tls', secret: {secretName: 'tls', defaultMode: 256, items: [{key: 'tls.crt', path: 'cert.pem', mode: 292}]}}]
  const c = computeProtect(p, p.tenants[0]!, w, original, settings)
  const tpl = c.next.spec!.template!
  t.equal(tpl.spec!.volumes, undefined, 'the Secret volume is gone')
  t.equal(tpl.spec!.containers[0]!.volumeMounts, undefined, 'and its mount')
  t.same(JSON.parse(c.annotations['cloudtaser.io/file-map']!), [{path: 'secret/data/c/payments/tls', mountPath: '/tls', items: [{field: 'tls.crt', file: 'cert.pem', mode: 292}], defaultMode: 256}])
  t.same(c.references.tls, [{container: 'api', type: 'volume', volume: 'tls', index: 0}])
  t.equal(computeProtect(p, p.tenants[0]!, w, c.next, settings).action, 'unchanged', 'idempotent')
  for (const s of w.secrets) s.references = c.references[s.source.name]
  const back = computeUnprotect(w, c.next)
  t.same(back.next, original, 'volume, items, modes and mount restored in place')

  const sub = live()
  sub.spec!.template!.spec!.containers[0]!.volumeMounts = [{name: 'tls', mountPath: '/etc/app/cert.pem', subPath: 'cert.pem'}]
  const kept = computeProtect(p, p.tenants[0]!, w, sub, settings)
  t.match(kept.kept.find((k) => k.secret === 'tls'), {why: /subPath/}, 'a subPath mount of it keeps the volume')
})

t.test('files only: nothing else to deliver is not "nothing to deliver"; a plan with no deliverable files skips the workload', async (t) => {
  const files: Workload = {
    kind: 'Deployment',
    name: 'api',
    secrets: [{source: {name: 'tls'}, vaultPath: 'secret/data/c/payments/tls', files: [{container: 'api', volume: 'tls', mountPath: '/tls', mountIndex: 0, deliverable: true}]}],
    status: {state: 'pending'},
  }
  const p = plan(files)
  const c = computeProtect(p, p.tenants[0]!, files, live(), settings)
  t.equal(c.action, 'protect')
  t.notOk(c.annotations['cloudtaser.io/secret-paths'], 'no env secrets: no secret-paths')
  t.ok(c.annotations['cloudtaser.io/file-map'])
  files.secrets[0]!.files![0]!.deliverable = false
  t.match(computeProtect(p, p.tenants[0]!, files, live(), settings), {action: 'skip', skipReason: /nothing the wrapper can deliver/})
})

t.test('base64-fields: the binary fields target migrate recorded, per KV path the workload reads; none, no annotation', async (t) => {
  const w = workload()
  const p = plan(w)
  t.notOk(computeProtect(p, p.tenants[0]!, w, live(), settings).annotations['cloudtaser.io/base64-fields'], 'no binary field recorded')
  p.tenants[0]!.secrets = [
    {name: 'psp', vaultPath: 'secret/data/c/payments/psp', base64Fields: ['store.p12', 'key.der']},
    {name: 'db', vaultPath: 'secret/data/c/payments/db'},
    // Recorded at another path than the workload now maps: not what the wrapper reads.
    {name: 'tls', vaultPath: 'secret/data/elsewhere/tls', base64Fields: ['tls.key']},
  ] as unknown as NonNullable<MigrationPlan['tenants'][number]['secrets']>
  const a = computeProtect(p, p.tenants[0]!, w, live(), settings).annotations
  t.equal(a['cloudtaser.io/base64-fields'], JSON.stringify({'secret/data/c/payments/psp': ['key.der', 'store.p12']}))
})
