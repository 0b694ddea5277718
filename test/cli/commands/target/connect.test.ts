// target connect through the built CLI against the lab (real kube-apiserver + OpenBao), then the
// issue's end-to-end path with every step a CLI command: connect -> apply-plan -> values with the
// bao CLI -> verify-plan -> a workload's TokenRequest token logs in through its tenant's role.
// (target discover is being written in parallel: the plan is built with the plan types.)
import t from 'tap'
import {runCli} from '../../../helpers/cli.js'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {CoreV1Api} from '@kubernetes/client-node'
import {startLab} from '../../../../lib/lab/index.js'
import {renderPlan} from '../../../../lib/plan/io.js'
import {baoCli, CANARY, clientFor, labPlan, writeValues} from '../../../lib/openbao/fixtures.js'

const lab = await startLab()
t.teardown(() => lab.stop())
const root = clientFor(lab.baoAddr, lab.baoToken)
t.teardown(() => root.close())
const dir = mkdtempSync(join(tmpdir(), 'ct-connect-'))
t.teardown(() => rmSync(dir, {recursive: true, force: true}))
const planFile = join(dir, 'plan.yaml')
writeFileSync(planFile, renderPlan(labPlan('kubernetes/lab')))

const cli = (...args: string[]) => runCli(args, {env: {HOME: dir, KUBECONFIG: lab.kubeconfigPath, BAO_ADDR: lab.baoAddr, BAO_TOKEN: lab.baoToken}})

t.test('connect: dry run, apply, unchanged, renew', async (t) => {
  const dry = await cli('target', 'connect', '--plan', planFile, '--dry-run', '--json')
  t.equal(dry.code, 0, dry.stderr)
  t.match(JSON.parse(dry.stdout), {dryRun: true, authMount: 'kubernetes/lab', summary: {create: 5}})
  t.notOk((await root.read<{data: Record<string, unknown>}>('sys/auth'))!.data['kubernetes/lab/'], 'dry run enabled nothing')

  const first = await cli('target', 'connect', '--plan', planFile)
  t.equal(first.code, 0, first.stderr)
  t.match(first.stdout, /created +cluster-role-binding cloudtaser-token-reviewer/)
  t.match(first.stdout, /Reviewer token expires \d{4}-/)
  const again = await cli('target', 'connect', '--plan', planFile)
  t.match(again.stdout, /Created 0, updated 0, unchanged 5, conflicts 0/)
  const renew = await cli('target', 'connect', '--plan', planFile, '--renew-reviewer-token', '--json')
  t.match(JSON.parse(renew.stdout), {summary: {update: 1, unchanged: 4}})
})

t.test('end to end: apply-plan, bao kv put, verify-plan, then the workload logs in', async (t) => {
  t.equal((await cli('source', 'apply-plan', planFile)).code, 0)
  t.equal((await cli('source', 'verify-plan', planFile)).code, 1, 'values not written yet')
  await writeValues(lab.baoAddr, lab.baoToken)
  const ok = await cli('source', 'verify-plan', planFile)
  t.equal(ok.code, 0, ok.stdout)
  // A new version that drops `username`.
  await baoCli(lab.baoAddr, lab.baoToken, 'kv', 'put', '-mount=secret', 'lab/beta/db', 'password=x')
  const bad = await cli('source', 'verify-plan', planFile)
  t.equal(bad.code, 1)
  t.match(bad.stdout, /secret\/data\/lab\/beta\/db +fields-missing +\d+ +missing field\(s\): username/)

  const core = lab.kubeConfig.makeApiClient(CoreV1Api)
  await core.createNamespace({body: {metadata: {name: 'beta'}}})
  await core.createNamespacedServiceAccount({namespace: 'beta', body: {metadata: {name: 'beta-api'}}})
  const jwt = (await core.createNamespacedServiceAccountToken({name: 'beta-api', namespace: 'beta', body: {spec: {expirationSeconds: 600, audiences: []}}})).status!.token
  const login = await root.call<{auth: {client_token: string}}>('POST', 'auth/kubernetes/lab/login', {body: {role: 'cloudtaser-lab-beta', jwt}})
  const w = clientFor(lab.baoAddr, login.body!.auth.client_token)
  t.teardown(() => w.close())
  t.equal((await w.call('GET', 'secret/data/lab/beta/env')).status, 200, 'reads its own secret')
  await t.rejects(w.call('GET', 'secret/data/lab/alpha/env'), {code: 'BAO_PERMISSION_DENIED'}, '403 on the other tenant')
  t.notOk((ok.stdout + bad.stdout + ok.stderr + bad.stderr).includes(CANARY.alpha))
})
