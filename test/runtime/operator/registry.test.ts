// Entrypoint resolution against a real OCI registry on loopback (Debian's docker-registry with
// htpasswd auth) and the lab's apiserver: an image built with umoci and pushed with skopeo by this
// test; a command-less container of a protected Deployment is wrapped with the image's
// ENTRYPOINT+CMD read through the pod's imagePullSecret; without the secret the pod is refused
// fast with the registry's answer; a second lookup of the same digest is served from the cache.
import t from 'tap'
import {execFileSync, spawn} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {AppsV1Api, CoreV1Api} from '@kubernetes/client-node'
import {Annotations, INJECT_LABEL} from '../../../lib/annotations.js'
import {startControlPlane} from '../../../lib/lab/index.js'
import {freePorts} from '../../../lib/lab/net.js'
import {RegistryClient} from '../../../runtime/operator/registry.js'
import {startOperator} from '../../../runtime/operator/server.js'
import {eventually} from '../../lib/lab/helpers.js'

const dir = mkdtempSync(join(tmpdir(), 'cloudtaser-registry-test-'))
const [port] = await freePorts(1)
const host = `127.0.0.1:${port}`
writeFileSync(join(dir, 'htpasswd'), execFileSync('htpasswd', ['-Bbn', 'puller', 'pull-pass'], {encoding: 'utf8'}))
writeFileSync(
  join(dir, 'config.yml'),
  `version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: ${join(dir, 'data')}}}\nhttp: {addr: "${host}"}\nauth: {htpasswd: {realm: test, path: ${join(dir, 'htpasswd')}}}\n`,
)
const registryProc = spawn('docker-registry', ['serve', join(dir, 'config.yml')], {stdio: 'ignore'})
t.teardown(() => {
  registryProc.kill()
  rmSync(dir, {recursive: true, force: true})
})
await eventually('the registry to answer', async () => ((await fetch(`http://${host}/v2/`).catch(() => undefined))?.status === 401 ? true : undefined))
const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, {cwd: dir, stdio: 'ignore'})
sh('umoci', ['init', '--layout', 'oci'])
sh('umoci', ['new', '--image', 'oci:app'])
sh('umoci', ['config', '--image', 'oci:app', '--config.entrypoint', '/usr/local/bin/app', '--config.cmd', 'serve', '--config.cmd', '--port=8080'])
sh('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', 'puller:pull-pass', 'oci:oci:app', `docker://${host}/team/app:1`])

const cp = await startControlPlane()
t.teardown(() => cp.stop())
const core = cp.kubeConfig.makeApiClient(CoreV1Api)
const apps = cp.kubeConfig.makeApiClient(AppsV1Api)
const registry = new RegistryClient({timeoutMs: 2000})
const op = await startOperator({
  mutation: {wrapperImage: 'w:1', wrapperSource: '/cloudtaser-wrapper'},
  host: '127.0.0.1',
  port: 0,
  register: true,
  kubeConfig: cp.kubeConfig,
  failurePolicy: 'Fail',
  timeoutSeconds: 5,
  excludeNamespaces: ['kube-system'],
  registry,
  log: () => {},
})
t.teardown(() => op.close())
await core.createNamespace({body: {metadata: {name: 'apps'}}})
const dockerconfig = JSON.stringify({auths: {[host]: {username: 'puller', password: 'pull-pass'}}})
await core.createNamespacedSecret({namespace: 'apps', body: {metadata: {name: 'pull'}, type: 'kubernetes.io/dockerconfigjson', data: {'.dockerconfigjson': Buffer.from(dockerconfig).toString('base64')}}})

const annotations = {[Annotations.inject]: 'true', [Annotations.vaultAddress]: 'https://bao:8200', [Annotations.vaultRole]: 'r', [Annotations.secretPaths]: 'secret/data/a'}
const deploy = (name: string, pullSecret: boolean) =>
  apps.createNamespacedDeployment({
    namespace: 'apps',
    body: {
      metadata: {name},
      spec: {
        replicas: 2,
        selector: {matchLabels: {app: name}},
        template: {
          metadata: {labels: {app: name, [INJECT_LABEL]: 'true'}, annotations},
          spec: {imagePullSecrets: pullSecret ? [{name: 'pull'}] : undefined, containers: [{name: 'app', image: `${host}/team/app:1`}]},
        },
      },
    },
  })

t.test('a command-less container gets ENTRYPOINT+CMD from the registry through the pull secret', async (t) => {
  await deploy('web', true)
  const pods = await eventually('2 pods', async () => {
    const l = await core.listNamespacedPod({namespace: 'apps', labelSelector: 'app=web'})
    return l.items.length >= 2 ? l.items : undefined
  })
  for (const p of pods) {
    const env = Object.fromEntries(p.spec!.containers[0]!.env!.map((e) => [e.name, e.value]))
    t.equal(env.CLOUDTASER_ORIGINAL_CMD, JSON.stringify(['/usr/local/bin/app', 'serve', '--port=8080']))
    t.same(p.spec!.containers[0]!.command, ['/cloudtaser/wrapper'])
  }
  t.ok(registry.stats.cacheHits >= 1, `second pod served from the digest cache (${registry.stats.cacheHits} hits, ${registry.stats.requests} requests)`)
})

t.test('without the pull secret the pod is refused fast with the registry\'s answer', async (t) => {
  const t0 = Date.now()
  const err = await core
    .createNamespacedPod({namespace: 'apps', body: {metadata: {name: 'nopull', labels: {[INJECT_LABEL]: 'true'}, annotations}, spec: {containers: [{name: 'app', image: `${host}/team/app:1`}]}}})
    .then(
      () => undefined,
      (e: {body?: string}) => String(e.body),
    )
  t.match(err, /container \\?"app\\?" has no command and the image entrypoint is unknown.*credentials/)
  t.ok(Date.now() - t0 < 3000, `refused in ${Date.now() - t0} ms`)
})

t.test('an unreachable registry is a bounded, clear refusal (never a hang)', async (t) => {
  const [dead] = await freePorts(1)
  const t0 = Date.now()
  const err = await core
    .createNamespacedPod({namespace: 'apps', body: {metadata: {name: 'dead', labels: {[INJECT_LABEL]: 'true'}, annotations}, spec: {containers: [{name: 'app', image: `127.0.0.1:${dead}/team/app:1`}]}}})
    .then(
      () => undefined,
      (e: {body?: string}) => String(e.body),
    )
  t.match(err, /cannot read the entrypoint of 127\.0\.0\.1/)
  t.ok(Date.now() - t0 < 4000, `refused in ${Date.now() - t0} ms`)
})
