// A binary Secret value end to end on the lab's node: a keystore (random bytes, NULs included)
// mounted as a file and a text field in the environment, read by a busybox app that prints their
// digests. discover -> apply-plan -> target migrate (base64 in KV, base64Fields in the plan) ->
// protect -> the wrapper writes the same bytes -> finalize deletes the Secret -> a new Pod still
// gets the same bytes, from OpenBao alone.
import t from 'tap'
import {createHash, randomBytes} from 'node:crypto'
import {join} from 'node:path'
import jsyaml from 'js-yaml'
import {readFileSync} from 'node:fs'
import {startLabSession, until} from './lab-session.js'

const {work, labEnv, images, cli, kubectl} = startLabSession(t, 'binary', 'binary@cloudtaser')
const NS = 'binary-demo'
const keystore = Buffer.concat([Buffer.from([0, 0xff, 0x00, 0x80]), randomBytes(64 * 1024)])
const user = `app-${randomBytes(4).toString('hex')}`
const sha = createHash('sha256').update(keystore).digest('hex')
const base = images.find((i) => i.name === 'base')!.ref
const manifest = [
  {apiVersion: 'v1', kind: 'Namespace', metadata: {name: NS}},
  {apiVersion: 'v1', kind: 'Secret', metadata: {name: 'keystore', namespace: NS}, data: {'keystore.p12': keystore.toString('base64'), user: Buffer.from(user).toString('base64')}},
  {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {name: 'app', namespace: NS},
    spec: {
      replicas: 1,
      selector: {matchLabels: {app: 'app'}},
      template: {
        metadata: {labels: {app: 'app'}},
        spec: {
          containers: [{
            name: 'app',
            image: `cloudtaser.lab/${base}`,
            command: ['/bin/sh', '-c', 'echo "file $(sha256sum /etc/ks/keystore.p12 | cut -d" " -f1) user $APP_USER"; exec sleep 3600'],
            env: [{name: 'APP_USER', valueFrom: {secretKeyRef: {name: 'keystore', key: 'user'}}}],
            volumeMounts: [{name: 'ks', mountPath: '/etc/ks', readOnly: true}],
          }],
          volumes: [{name: 'ks', secret: {secretName: 'keystore', items: [{key: 'keystore.p12', path: 'keystore.p12'}]}}],
        },
      },
    },
  },
]
kubectl(['apply', '-f', '-'], {input: manifest.map((o) => JSON.stringify(o)).join('\n')})
kubectl(['-n', NS, 'rollout', 'status', 'deployment/app', '--timeout=180s'])
const printed = async (what: string) =>
  until(what, async () => {
    const out = kubectl(['-n', NS, 'logs', 'deployment/app', '-c', 'app'], {allowFail: true}).stdout
    return /^file [0-9a-f]{64} user /m.test(out) ? out.trim().split('\n').pop()! : undefined
  })

t.test('the app reads the keystore\'s bytes from Kubernetes, then from OpenBao through the wrapper, then without the Secret', async (t) => {
  t.equal(await printed('the unprotected app'), `file ${sha} user ${user}`, 'the baseline: Kubernetes delivers these bytes')
  const planFile = join(work, 'plan.yaml')
  cli(['target', 'discover', '-n', NS, '-o', planFile, '--cluster-name', 'lab', '--vault-address', labEnv.BAO_ADDR!])
  cli(['source', 'apply-plan', planFile])
  const m = cli(['target', 'migrate', '--plan', planFile, '--json'])
  t.match(JSON.parse(m.stdout).processed, [{name: 'keystore', outcome: 'copied', base64Fields: ['keystore.p12']}])
  cli(['target', 'protect', '--plan', planFile, '--yes', '--wait'])
  const plan = jsyaml.load(readFileSync(planFile, 'utf8')) as {tenants: Array<{workloads: Array<{status: {state: string}}>}>}
  t.equal(plan.tenants[0]!.workloads[0]!.status.state, 'migrated')
  const wrapped = await until('the wrapped Pod alone', async () => {
    const pods = JSON.parse(kubectl(['-n', NS, 'get', 'pods', '-l', 'app=app', '-o', 'json']).stdout).items as Array<{metadata: {name: string; deletionTimestamp?: string}; spec: {initContainers?: Array<{name: string}>}}>
    return pods.length === 1 && !pods[0]!.metadata.deletionTimestamp && pods[0]!.spec.initContainers?.[0]?.name === 'cloudtaser-init' ? pods[0]! : undefined
  })
  t.equal(await printed('the wrapped app'), `file ${sha} user ${user}`, 'the wrapper wrote the same bytes and the same text')

  const f = JSON.parse(cli(['target', 'migrate', 'finalize', '--plan', planFile, '--yes', '--json'], {allowFail: true}).stdout)
  t.match(f.processed, [{name: 'keystore', outcome: 'deleted'}], JSON.stringify(f.processed))
  t.equal(kubectl(['-n', NS, 'get', 'secret', 'keystore'], {allowFail: true}).status, 1, 'the Secret is gone')
  kubectl(['-n', NS, 'delete', 'pod', wrapped.metadata.name, '--wait=true'])
  await until('a new Pod', async () => {
    const pods = JSON.parse(kubectl(['-n', NS, 'get', 'pods', '-l', 'app=app', '-o', 'json']).stdout).items as Array<{metadata: {name: string}}>
    return pods.length === 1 && pods[0]!.metadata.name !== wrapped.metadata.name ? true : undefined
  })
  kubectl(['-n', NS, 'rollout', 'status', 'deployment/app', '--timeout=180s'])
  t.equal(await printed('the app without the Secret'), `file ${sha} user ${user}`, 'from OpenBao alone')
})
