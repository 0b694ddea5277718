// `cloudtaser operator run` as a process (built CLI, bin/run.js) against the lab apiserver:
// registers itself, mutates a labelled pod (an ebpf-annotated one gets the agent's socket directory
// given by --ebpf-socket-dir), stops on SIGTERM with exit 0 and a JSON summary.
import t from 'tap'
import {spawn} from 'node:child_process'
import {CoreV1Api} from '@kubernetes/client-node'
import {Annotations, INJECT_LABEL} from '../../../lib/annotations.js'
import {startControlPlane} from '../../../lib/lab/index.js'
import {eventually} from '../../lib/lab/helpers.js'

const cp = await startControlPlane()
t.teardown(() => cp.stop())
const core = cp.kubeConfig.makeApiClient(CoreV1Api)

t.test('registers, mutates, drains on SIGTERM', async (t) => {
  const child = spawn(process.execPath, ['bin/run.js', 'operator', 'run', '--host', '127.0.0.1', '--port', '0', '--ops-port', '0', '--wrapper-image', 'w:cli', '--ebpf-socket-dir', '/var/lib/ct-ebpf', '--kubeconfig', cp.kubeconfigPath, '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(() => void child.kill('SIGKILL'))
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => (stdout += c))
  child.stderr.on('data', (c: Buffer) => (stderr += c))
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  const events = () => stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as {event: string})
  await eventually('the webhook configuration to be written', async () => (events().some((e) => e.event === 'webhook_configuration') ? true : undefined), 60_000)

  await core.createNamespace({body: {metadata: {name: 'cli'}}})
  const annotations = {[Annotations.inject]: 'true', [Annotations.vaultAddress]: 'https://bao.example:8200', [Annotations.vaultRole]: 'r', [Annotations.secretPaths]: 'secret/data/a'}
  const pod = await eventually('a mutated pod', async () => {
    await core.readNamespacedServiceAccount({name: 'default', namespace: 'cli'})
    const p = await core.createNamespacedPod({
      namespace: 'cli',
      dryRun: 'All',
      body: {metadata: {name: 'p', labels: {[INJECT_LABEL]: 'true'}, annotations}, spec: {containers: [{name: 'app', image: 'a', command: ['/bin/a']}]}},
    })
    return p.spec?.containers[0]?.command?.[0] === '/cloudtaser/wrapper' ? p : undefined
  })
  t.equal(pod.spec!.initContainers![0]!.image, 'w:cli')
  const ebpfPod = await core.createNamespacedPod({
    namespace: 'cli',
    dryRun: 'All',
    body: {
      metadata: {name: 'e', labels: {[INJECT_LABEL]: 'true'}, annotations: {...annotations, [Annotations.ebpf]: 'true', [Annotations.ebpfFail]: 'open'}},
      spec: {containers: [{name: 'app', image: 'a', command: ['/bin/a']}]},
    },
  })
  const app = ebpfPod.spec!.containers[0]!
  t.same(app.env!.filter((e) => e.name.startsWith('CLOUDTASER_EBPF')), [{name: 'CLOUDTASER_EBPF', value: 'true'}, {name: 'CLOUDTASER_EBPF_FAIL', value: 'open'}], 'the annotations reach the wrapper')
  t.same(ebpfPod.spec!.volumes!.find((v) => v.name === 'cloudtaser-ebpf')?.hostPath, {path: '/var/lib/ct-ebpf', type: 'DirectoryOrCreate'}, 'the agent socket directory from --ebpf-socket-dir')
  t.match(app.volumeMounts!.find((m) => m.name === 'cloudtaser-ebpf'), {mountPath: '/run/cloudtaser', readOnly: true})

  child.kill('SIGTERM')
  t.equal(await exited, 0, stderr)
  const summary = JSON.parse(stdout) as {url: string; stats: {mutated: number}}
  t.match(summary.url, /^https:\/\/127\.0\.0\.1:\d+\/mutate-v1-pod$/)
  t.ok(summary.stats.mutated >= 1)
})

t.test('a missing --wrapper-image is a usage error', async (t) => {
  const child = spawn(process.execPath, ['bin/run.js', 'operator', 'run', '--no-register', '--json'], {stdio: ['ignore', 'pipe', 'pipe']})
  let stdout = ''
  child.stdout.on('data', (c: Buffer) => (stdout += c))
  t.equal(await new Promise((r) => child.once('exit', r)), 2)
  t.match(JSON.parse(stdout), {error: {code: 'USAGE'}})
})

t.test('a relative --ebpf-socket-dir is a usage error', async (t) => {
  const child = spawn(process.execPath, ['bin/run.js', 'operator', 'run', '--no-register', '--wrapper-image', 'w', '--ebpf-socket-dir', 'run/ct', '--json'], {stdio: ['ignore', 'pipe', 'pipe']})
  let stdout = ''
  child.stdout.on('data', (c: Buffer) => (stdout += c))
  t.equal(await new Promise((r) => child.once('exit', r)), 2)
  t.match(JSON.parse(stdout), {error: {code: 'USAGE', message: /--ebpf-socket-dir: "run\/ct" is not an absolute path/}})
})
