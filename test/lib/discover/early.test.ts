// discover's early start: what it guesses from the command line, when a guess may be used, and,
// against a real apiserver, that a wrong guess is dropped (the plan is the one the flags ask for).
import t from 'tap'
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {AppsV1Api, CoreV1Api} from '@kubernetes/client-node'
import {guessRequest, sameListing} from '../../../lib/discover/early.js'
import type {IsolatedJob} from '../../../lib/discover/isolated.js'
import type {DiscoverRequest} from '../../../lib/discover/service.js'
import type {KubeconfigSelection} from '../../../lib/kube/kubeconfig.js'
import {DEFAULT_PATH_TEMPLATE} from '../../../lib/discover/transform.js'
import {startControlPlane} from '../../../lib/lab/index.js'

const defaults = {mount: 'secret', pathTemplate: DEFAULT_PATH_TEMPLATE, authMount: 'kubernetes'}

t.test('guesses the plain command lines, with the flags\' defaults', async (t) => {
  t.same(guessRequest([]), {...defaults, planNeeded: true}, 'the plan is printed')
  t.same(guessRequest(['-o', 'plan.yaml']), {...defaults, output: 'plan.yaml', planNeeded: false})
  t.same(guessRequest(['--output=plan.yaml', '--cluster-name', 'prod', '--json', '--no-color']), {...defaults, output: 'plan.yaml', clusterName: 'prod', planNeeded: true}, '--json returns it')
  t.same(guessRequest(['--output-plan', 'p.yaml', '--mount=kv', '--path-template', '{mount}/data/{secret}', '--auth-mount', 'k8s', '--vault-address', 'https://bao:8200']), {
    mount: 'kv',
    pathTemplate: '{mount}/data/{secret}',
    authMount: 'k8s',
    output: 'p.yaml',
    vaultAddress: 'https://bao:8200',
    planNeeded: false,
  })
})

t.test('makes no guess when the flags choose the cluster, the namespaces or --update, or look unusual', async (t) => {
  for (const argv of [
    ['--kubeconfig', 'k'],
    ['--context', 'c'],
    ['-n', 'shop'],
    ['--namespace=shop'],
    ['--exclude-namespace', 'x'],
    ['-A'],
    ['--update', 'plan.yaml'],
    ['--help'],
    ['-h'],
    ['plan.yaml'],
    ['--bogus'],
    ['-o'],
    ['-o', '--json'],
    ['--output='],
    ['-o', 'a.yaml', '-o', 'b.yaml'],
    ['-o', 'a.yaml', '--output-plan', 'b.yaml'],
    ['-oplan.yaml'],
  ]) {
    t.equal(guessRequest(argv), undefined, argv.join(' '))
  }
})

t.test('a guess is used only for the same listing', async (t) => {
  const guess = guessRequest(['-o', 'plan.yaml', '--cluster-name', 'prod'])!
  const request = {...guess}
  t.ok(sameListing(guess, {}, request))
  t.ok(sameListing(guess, {}, {...request, authMount: 'other', vaultAddress: 'https://x', namespaces: [], excludeNamespaces: []}), 'what only the end of discover reads may differ')
  const cases: Array<[string, KubeconfigSelection, Partial<DiscoverRequest>]> = [
    ['kubeconfig', {kubeconfig: 'k'}, {}],
    ['context', {context: 'c'}, {}],
    ['namespaces', {}, {namespaces: ['shop']}],
    ['excluded namespaces', {}, {excludeNamespaces: ['x']}],
    ['system namespaces', {}, {includeSystem: true}],
    ['--update', {}, {update: 'plan.yaml'}],
    ['cluster name', {}, {clusterName: 'other'}],
    ['mount', {}, {mount: 'kv'}],
    ['path template', {}, {pathTemplate: '{mount}/data/{secret}'}],
    ['output', {}, {output: 'other.yaml'}],
    ['plan object wanted', {}, {planNeeded: true}],
  ]
  for (const [what, selection, changed] of cases) {
    t.notOk(sameListing(guess, selection, {...request, ...changed}), what)
  }
})

t.test('a wrong guess is dropped: the plan is the one the job asks for, and the guessed file is not written', async (t) => {
  const cp = await startControlPlane()
  t.teardown(() => cp.stop())
  const dir = mkdtempSync(join(tmpdir(), 'cloudtaser-early-'))
  t.teardown(() => rmSync(dir, {recursive: true, force: true}))
  const core = cp.kubeConfig.makeApiClient(CoreV1Api)
  await core.createNamespace({body: {metadata: {name: 'shop'}}})
  await cp.kubeConfig.makeApiClient(AppsV1Api).createNamespacedDeployment({namespace: 'shop', body: {
    metadata: {name: 'api'},
    spec: {selector: {matchLabels: {app: 'api'}}, template: {metadata: {labels: {app: 'api'}}, spec: {containers: [{name: 'app', image: 'app:1', env: [{name: 'P', valueFrom: {secretKeyRef: {name: 'db', key: 'password'}}}]}]}}},
  }})
  const previous = process.env.KUBECONFIG
  process.env.KUBECONFIG = cp.kubeconfigPath
  t.teardown(() => void (process.env.KUBECONFIG = previous))
  // The compiled worker: the one bin/run.js starts.
  const {discoverIsolated, prestartDiscoverWorker} = (await import(new URL('../../../dist/lib/discover/isolated.js', import.meta.url).href)) as typeof import('../../../lib/discover/isolated.js')
  const job = (output: string, clusterName: string): IsolatedJob => ({
    selection: {},
    request: {output, clusterName, mount: 'secret', pathTemplate: DEFAULT_PATH_TEMPLATE, authMount: 'kubernetes'},
    progress: false,
    withPlan: false,
    render: false,
  })

  const guessed = join(dir, 'guessed.yaml')
  const asked = join(dir, 'asked.yaml')
  prestartDiscoverWorker(['-o', guessed, '--cluster-name', 'guessed'])
  const wrong = await discoverIsolated(job(asked, 'asked'))
  t.equal(wrong.cluster.name, 'asked')
  t.match(readFileSync(asked, 'utf8'), /vaultPath: secret\/data\/asked\/shop\/db/)
  t.notOk(existsSync(guessed), 'nothing written for the dropped guess')

  const right = join(dir, 'right.yaml')
  prestartDiscoverWorker(['-o', right, '--cluster-name', 'asked'])
  const used = await discoverIsolated(job(right, 'asked'))
  t.equal(used.workloads, 1)
  t.equal(readFileSync(right, 'utf8').replace(/createdAt: \S+/, ''), readFileSync(asked, 'utf8').replace(/createdAt: \S+/, ''), 'the same plan as without the guess')
})
