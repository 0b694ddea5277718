// The acceptance path with the real `target discover`, every step a CLI command against
// the lab's kube-apiserver and OpenBao: discover -> connect -> apply-plan (twice, and a dry run
// checked against OpenBao's state) -> values with the bao CLI -> verify-plan passes -> a field
// removed makes it fail naming the secret and field -> a workload's TokenRequest token logs in
// through its tenant's role, reads its own secrets and gets 403 on the other tenant's.
import t from 'tap'
import {runCli} from '../../../helpers/cli.js'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {AppsV1Api, CoreV1Api} from '@kubernetes/client-node'
import {startLab} from '../../../../lib/lab/index.js'
import {loadPlan} from '../../../../lib/plan/io.js'
import {baoCli, CANARY, clientFor} from '../../../lib/openbao/fixtures.js'

const lab = await startLab()
t.teardown(() => lab.stop())
const root = clientFor(lab.baoAddr, lab.baoToken)
t.teardown(() => root.close())
const core = lab.kubeConfig.makeApiClient(CoreV1Api)
const apps = lab.kubeConfig.makeApiClient(AppsV1Api)
const dir = mkdtempSync(join(tmpdir(), 'ct-e2e-'))
t.teardown(() => rmSync(dir, {recursive: true, force: true}))
const planFile = join(dir, 'plan.yaml')

const cli = (...args: string[]) => runCli(args, {env: {HOME: dir, KUBECONFIG: lab.kubeconfigPath, BAO_ADDR: lab.baoAddr, BAO_TOKEN: lab.baoToken}})

// Two teams as they run today: Kubernetes Secrets read through env and envFrom.
for (const ns of ['alpha', 'beta'] as const) {
  await core.createNamespace({body: {metadata: {name: ns}}})
  await core.createNamespacedServiceAccount({namespace: ns, body: {metadata: {name: 'api'}}})
  await core.createNamespacedSecret({namespace: ns, body: {metadata: {name: 'db'}, stringData: {username: `${ns}-user`, password: CANARY[ns]}}})
  await core.createNamespacedSecret({namespace: ns, body: {metadata: {name: 'settings'}, stringData: {API_KEY: CANARY[ns]}}})
  await apps.createNamespacedDeployment({
    namespace: ns,
    body: {
      metadata: {name: 'api'},
      spec: {
        selector: {matchLabels: {app: 'api'}},
        template: {
          metadata: {labels: {app: 'api'}},
          spec: {
            serviceAccountName: 'api',
            containers: [
              {
                name: 'api',
                image: 'registry.example.eu/api:1',
                env: [
                  {name: 'DB_USER', valueFrom: {secretKeyRef: {name: 'db', key: 'username'}}},
                  {name: 'DB_PASSWORD', valueFrom: {secretKeyRef: {name: 'db', key: 'password'}}},
                ],
                envFrom: [{secretRef: {name: 'settings'}}],
              },
            ],
          },
        },
      },
    },
  })
}

const state = async () => {
  const list = await root.call<{data: {keys: string[]}}>('GET', 'sys/policies/acl', {query: {list: 'true'}})
  const roles = await root.call<{data?: {keys: string[]}}>('GET', 'auth/kubernetes/role', {query: {list: 'true'}, accept: [404]})
  return JSON.stringify({policies: list.body!.data.keys.sort(), roles: roles.body?.data?.keys.sort() ?? []})
}

t.test('discover -> connect -> apply-plan -> bao kv put -> verify-plan', async (t) => {
  const d = await cli('target', 'discover', '-o', planFile)
  t.equal(d.code, 0, d.stderr)
  const {plan} = await loadPlan(planFile)
  t.same(plan.tenants.map((x) => x.namespace), ['alpha', 'beta'], 'discover found both teams')
  const alpha = plan.tenants[0]!
  const beta = plan.tenants[1]!

  t.equal((await cli('target', 'connect', '--plan', planFile)).code, 0)

  const before = await state()
  const dry = await cli('source', 'apply-plan', planFile, '--dry-run')
  t.equal(dry.code, 0, dry.stderr)
  t.match(dry.stdout, /Would create 4, would update 0, unchanged 0, conflicts 0/)
  t.equal(await state(), before, '--dry-run changed nothing in OpenBao')
  t.match((await cli('source', 'apply-plan', planFile)).stdout, /Created 4, updated 0, unchanged 0, conflicts 0/)
  t.match((await cli('source', 'apply-plan', planFile)).stdout, /Created 0, updated 0, unchanged 4, conflicts 0/)

  // The operator copies the values into OpenBao with the bao CLI.
  const put = async (vaultPath: string, ...kv: string[]) => {
    const [mount, ...rest] = vaultPath.split('/data/')
    await baoCli(lab.baoAddr, lab.baoToken, 'kv', 'put', `-mount=${mount}`, rest.join('/data/'), ...kv)
  }
  for (const [tenant, ns] of [[alpha, 'alpha'], [beta, 'beta']] as const) {
    const secrets = tenant.workloads[0]!.secrets
    await put(secrets.find((s) => s.source.name === 'db')!.vaultPath, `username=${ns}-user`, `password=${CANARY[ns]}`)
    await put(secrets.find((s) => s.source.name === 'settings')!.vaultPath, `API_KEY=${CANARY[ns]}`)
  }
  const ok = await cli('source', 'verify-plan', planFile)
  t.equal(ok.code, 0, ok.stdout)
  t.match(ok.stdout, /All 4 secret\(s\) present\./)

  const betaDb = beta.workloads[0]!.secrets.find((s) => s.source.name === 'db')!.vaultPath
  await put(betaDb, `username=beta-user`)
  const bad = await cli('source', 'verify-plan', planFile)
  t.equal(bad.code, 1)
  t.match(bad.stdout, new RegExp(`${betaDb.replace(/[/.]/g, '\\$&')} +fields-missing +\\d+ +missing field\\(s\\): password`))
  for (const out of [d, dry, ok, bad]) t.notOk(Object.values(CANARY).some((c) => (out.stdout + out.stderr).includes(c)), 'no value in any output')

  const jwt = (await core.createNamespacedServiceAccountToken({name: 'api', namespace: 'alpha', body: {spec: {expirationSeconds: 600, audiences: []}}})).status!.token
  const login = await root.call<{auth: {client_token: string}}>('POST', `auth/${plan.openbao?.authMount ?? 'kubernetes'}/login`, {body: {role: alpha.role, jwt}})
  const w = clientFor(lab.baoAddr, login.body!.auth.client_token)
  t.teardown(() => w.close())
  for (const s of alpha.workloads[0]!.secrets) t.equal((await w.call('GET', s.vaultPath)).status, 200, `alpha reads ${s.vaultPath}`)
  for (const s of beta.workloads[0]!.secrets) await t.rejects(w.call('GET', s.vaultPath), {code: 'BAO_PERMISSION_DENIED'}, `403 on ${s.vaultPath}`)
})
