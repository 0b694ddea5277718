// One valid plan, one broken field per case.
import t from 'tap'
import {validatePlan} from '../../../lib/plan/validate.js'
import type {MigrationPlan} from '../../../lib/plan/types.generated.js'

const valid = (): MigrationPlan => ({
  apiVersion: 'cloudtaser.io/v1',
  kind: 'MigrationPlan',
  metadata: {
    name: 'prod-eu-1',
    cluster: {name: 'prod-eu-1', fingerprint: '0f6a4a36-4cf3-4d93-9f0b-5e2d8f6e1c2a'},
    createdAt: '2026-11-21T14:03:10Z',
    createdBy: 'alice@laptop',
    toolVersion: '0.1.0',
    git: {commit: '3b18e512dba79e4c8300dd08aeb37f8e728b8dad'},
  },
  tenants: [
    {
      name: 'payments',
      namespace: 'payments',
      policy: 'cloudtaser-prod-eu-1-payments',
      role: 'cloudtaser-prod-eu-1-payments',
      workloads: [
        {
          kind: 'Deployment',
          name: 'api',
          serviceAccount: 'api',
          secrets: [{source: {name: 'db'}, vaultPath: 'secret/data/prod-eu-1/payments/db', fields: {password: 'PGPASSWORD'}}],
          status: {state: 'pending'},
        },
      ],
    },
  ],
})

type Breaker = (p: MigrationPlan & Record<string, unknown>) => void
const wl = (p: MigrationPlan) => p.tenants[0]!.workloads[0]!

const cases: Array<[string, Breaker, RegExp, string]> = [
  ['wrong kind of workload', (p) => void ((wl(p) as {kind: string}).kind = 'Pod'), /must be one of/, '/tenants/0/workloads/0/kind'],
  ['namespace not a DNS label', (p) => void (p.tenants[0]!.namespace = 'Payments'), /not valid/, '/tenants/0/namespace'],
  ['fingerprint not a UID', (p) => void (p.metadata.cluster!.fingerprint = 'abc'), /not valid/, '/metadata/cluster/fingerprint'],
  ['createdAt not a date', (p) => void (p.metadata.createdAt = 'yesterday'), /must match format "date-time"/, '/metadata/createdAt'],
  ['vaultPath without /data/', (p) => void (wl(p).secrets[0]!.vaultPath = 'secret/prod/db'), /not valid/, '/tenants/0/workloads/0/secrets/0/vaultPath'],
  ['env name with "=" (Kubernetes 1.34 takes any other printable ASCII)', (p) => void (wl(p).secrets[0]!.fields = {password: 'PG=PASSWORD'}), /not valid/, '/tenants/0/workloads/0/secrets/0/fields/password'],
  ['negative replicas', (p) => void (wl(p).replicas = -1), /must be >= 0/, '/tenants/0/workloads/0/replicas'],
  ['unknown top-level field', (p) => void (p.spec = {}), /unknown field "spec"/, ''],
  ['status failed without reason', (p) => void (wl(p).status = {state: 'failed'}), /missing required field "reason"/, '/tenants/0/workloads/0/status'],
  ['missing tenants', (p) => void delete (p as Partial<MigrationPlan>).tenants, /missing required field "tenants"/, ''],
  ['git commit not a SHA', (p) => void (p.metadata.git!.commit = 'main'), /not valid/, '/metadata/git/commit'],
]

for (const [name, breakIt, message, pointer] of cases) {
  t.test(name, async (t) => {
    const plan = valid() as MigrationPlan & Record<string, unknown>
    t.same(validatePlan(plan), [], 'the fixture starts valid')
    breakIt(plan)
    const issues = validatePlan(plan)
    t.equal(issues.length, 1, 'exactly one problem')
    t.match(issues[0], {pointer, message})
  })
}

t.test('smuggled values are refused wherever they hide', async (t) => {
  const smuggle: Array<[string, Breaker, string]> = [
    ['value key on a secret', (p) => void ((wl(p).secrets[0] as unknown as Record<string, unknown>).value = 'hunter2'), 'a value key'],
    ['stringData key', (p) => void ((wl(p).secrets[0]!.source as unknown as Record<string, unknown>).stringData = {a: 'b'}), 'stringData'],
    ['PEM in a note', (p) => void (wl(p).note = '-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----'), 'pem'],
    ['JWT in a reason', (p) => void (wl(p).status = {state: 'skipped', reason: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.sig'}), 'jwt'],
    ['bao token in createdBy', (p) => void (p.metadata.createdBy = 'hvs.CAESIJ8xq1f0aQnZk3v9YwT2bL7mR4pE6uHs'), 'token'],
    ['AWS key in description', (p) => void (p.metadata.description = 'use AKIAIOSFODNN7EXAMPLE'), 'aws'],
    ['long base64 in a tenant note', (p) => void (p.tenants[0]!.note = 'old: dGhpc2lzYXZlcnlsb25nc2VjcmV0dmFsdWVfMTIzNDU2Nzg5MA=='), 'base64'],
    ['hex key in a reason', (p) => void (wl(p).status = {state: 'skipped', reason: 'key 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'}), 'hex'],
  ]
  for (const [name, breakIt] of smuggle) {
    const plan = valid() as MigrationPlan & Record<string, unknown>
    breakIt(plan)
    const issues = validatePlan(plan)
    t.ok(issues.length >= 1 && issues.every((i) => i.code === 'PLAN_SECRET_VALUE'), name)
  }
  const harmless = valid()
  harmless.metadata.description = 'Approved in SEC-2291 by security; see https://wiki.example.eu/migrations/prod-eu-1'
  t.same(validatePlan(harmless), [], 'ordinary prose and URLs pass')
})
