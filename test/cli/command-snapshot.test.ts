// Commands, their flags (with defaults) and the JSON results of the plan workflow are a public
// interface: this snapshot changes only on purpose (`npx tap --snapshot
// test/cli/command-snapshot.test.ts` and review the diff). The results are shapes (keys and
// value types, distinct shapes of array items) of real runs against the lab, so values that
// change from run to run (timings, UIDs, dates) never show.
import t from 'tap'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {AppsV1Api, CoreV1Api} from '@kubernetes/client-node'
import {Config} from '@oclif/core'
import {startLab} from '../../lib/lab/index.js'
import {runCli} from '../helpers/cli.js'

const config = await Config.load({root: process.cwd()})
const commands = config.commands
  .map((c) => ({
    id: c.id,
    flags: Object.entries(c.flags)
      .map(([name, f]) => ({name, char: f.char, type: f.type, multiple: 'multiple' in f ? f.multiple : undefined, aliases: f.aliases, default: f.default, required: f.required || undefined}))
      .sort((a, b) => a.name.localeCompare(b.name)),
    args: Object.keys(c.args),
  }))
  .sort((a, b) => a.id.localeCompare(b.id))

t.matchSnapshot(commands, 'commands and flags')
// In-Pod entry points (hidden) hand stdout to the application they start: a JSON
// envelope around the app's output would corrupt it, so they alone go without --json.
const appOwnsStdout = new Set(['wrapper:run'])
for (const c of config.commands) {
  if (!appOwnsStdout.has(c.id)) t.ok(Object.keys(c.flags).includes('json'), `${c.id} supports --json`)
  else t.ok(c.hidden, `${c.id} is hidden: it runs inside a Pod, not at a terminal`)
  t.ok((c.examples ?? []).length > 0, `${c.id} has examples in --help`)
}

/** Timings: left out, not only as values. */
const VOLATILE = new Set(['ms'])

/** Keys and value types; an array becomes the list of its items' distinct shapes. */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) {
    const seen = new Map<string, unknown>()
    for (const item of value) seen.set(JSON.stringify(shape(item)), shape(item))
    return [...seen.keys()].sort().map((k) => seen.get(k))
  }
  if (value && typeof value === 'object') return Object.fromEntries(Object.keys(value).filter((k) => !VOLATILE.has(k)).sort().map((k) => [k, shape((value as Record<string, unknown>)[k])]))
  return value === null ? 'null' : typeof value
}

t.test('JSON results of discover, apply-plan, verify-plan, protect and migrate', async (t) => {
  const lab = await startLab()
  t.teardown(() => lab.stop())
  const dir = mkdtempSync(join(tmpdir(), 'ct-snapshot-'))
  t.teardown(() => rmSync(dir, {recursive: true, force: true}))
  const core = lab.kubeConfig.makeApiClient(CoreV1Api)
  await core.createNamespace({body: {metadata: {name: 'shop'}}})
  await core.createNamespacedSecret({namespace: 'shop', body: {metadata: {name: 'db'}, stringData: {password: 'snapshot-canary'}}})
  await lab.kubeConfig.makeApiClient(AppsV1Api).createNamespacedDeployment({namespace: 'shop', body: {metadata: {name: 'api'}, spec: {
    selector: {matchLabels: {app: 'api'}},
    template: {metadata: {labels: {app: 'api'}}, spec: {containers: [{name: 'api', image: 'api:1', env: [{name: 'DB_PASSWORD', valueFrom: {secretKeyRef: {name: 'db', key: 'password'}}}]}]}},
  }}})
  const env = {HOME: dir, KUBECONFIG: lab.kubeconfigPath, BAO_ADDR: lab.baoAddr, BAO_TOKEN: lab.baoToken}
  const json = async (args: string[], exit = 0): Promise<unknown> => {
    const r = await runCli([...args, '--json'], {env, cwd: dir})
    t.equal(r.code, exit, `${args.slice(0, 2).join(' ')}: exit ${exit} ${r.stderr}`)
    return JSON.parse(r.stdout)
  }
  const plan = join(dir, 'plan.yaml')
  const results = {
    'target discover': await json(['target', 'discover', '-o', plan, '--vault-address', lab.baoAddr]),
    'target connect': await json(['target', 'connect']),
    'source apply-plan': await json(['source', 'apply-plan', plan]),
    // No values written yet: the check finds the secret missing (exit 1).
    'source verify-plan': await json(['source', 'verify-plan', plan], 1),
    'target protect --dry-run': await json(['target', 'protect', '--plan', plan, '--dry-run']),
    'target migrate --dry-run': await json(['target', 'migrate', '--plan', plan, '--dry-run']),
    'target migrate': await json(['target', 'migrate', '--plan', plan]),
    'target migrate --check': await json(['target', 'migrate', '--plan', plan, '--check']),
    // The Deployment is not protected yet: the Secret is kept, with reasons (exit 1).
    'target migrate finalize --dry-run': await json(['target', 'migrate', 'finalize', '--plan', plan, '--dry-run'], 1),
    'target migrate rollback --dry-run': await json(['target', 'migrate', 'rollback', '--plan', plan, '--dry-run']),
  }
  t.matchSnapshot(Object.fromEntries(Object.entries(results).map(([k, v]) => [k, shape(v)])), 'JSON result shapes')
})
