// Which `target discover` command lines are read without oclif (cli/direct-discover.ts), and as
// what. That both paths then say the same is tested in discover.test.ts.
import t from 'tap'
import {guessRequest} from '../../../lib/discover/early.js'
import {DEFAULT_PATH_TEMPLATE} from '../../../lib/discover/transform.js'

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
