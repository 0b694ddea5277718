// The S3 proxy sidecar under a real kubelet (the lab's node, runc): two Deployments whose templates
// ask for the proxy (one with the automounted ServiceAccount token, one with
// automountServiceAccountToken: false, so the webhook's projected token) go through the plan
// workflow (discover records s3Proxy, verify-plan names the missing Transit key, apply-plan grants
// the policy and creates the key, protect wraps them); the webhook adds the sidecar, the kubelet
// starts it under the wrapper and probes it, and each app, curl with --aws-sigv4 (a client no one
// here wrote), puts and gets an object through http://127.0.0.1:8190 with the credentials its own
// wrapper read from OpenBao. versitygw listens where Pods reach the host, as OpenBao does; its
// directory is hunted for the object's canary, and the lab's disk for the upstream secret key.
import t from 'tap'
import {createHash, randomBytes} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import jsyaml from 'js-yaml'
import {buildImage, CURL, huntCanaries, pushImage, startS3Server} from '../../lib/lab/index.js'
import {TOKEN_DIR} from '../../runtime/operator/mutation.js'
import {S3_PROXY_CONTAINER, S3_PROXY_OPS_PORT} from '../../runtime/operator/s3-sidecar.js'
import type {MigrationPlan} from '../../lib/plan/types.generated.js'
import {bao} from '../lib/lab/helpers.js'
import {storedFiles} from '../runtime/s3-proxy/fixture.js'
import {startLabSession, until} from './lab-session.js'

const t0 = Date.now()
// The eBPF agent is not under test here: without it the install waits for the operator alone.
const {work, labEnv, cli, kubectl} = startLabSession(t, 's3-sidecar', 's3-sidecar@cloudtaser', {set: ['ebpf.enabled=false']})
const hostIp = new URL(labEnv.BAO_ADDR!).hostname
const [s3, curlImage] = await Promise.all([
  startS3Server({host: hostIp}),
  buildImage(CURL).then(async (image) => (await pushImage(image, labEnv.CLOUDTASER_LAB_REGISTRY!), `cloudtaser.lab/${image.ref}`)),
])
t.teardown(() => s3.stop())
t.comment(`lab, operator, versitygw and the curl image ready after ${Date.now() - t0} ms`)
const root = (method: string, path: string, body?: unknown) => bao(labEnv.BAO_ADDR!, labEnv.BAO_TOKEN, method, path, body)

const NS = 's3-demo'
// Where discover puts the Secret s3-client of this namespace (--cluster-name lab, mount secret):
// the app's two fields and the proxy's two live in that one KV secret.
const CREDENTIALS = `secret/data/lab/${NS}/s3-client`
const TRANSIT_KEY = 'demo-objects'
const client = {accessKeyId: `POD${randomBytes(6).toString('hex').toUpperCase()}`, secretAccessKey: `pod-secret-${randomBytes(12).toString('hex')}`}
const canary = `canary-s3-sidecar-${randomBytes(8).toString('hex')}`
const LINES = 3000
// What the app uploads: LINES lines naming the canary, ~100 KiB, so two segments.
const object = Buffer.from(Array.from({length: LINES}, (_, i) => `${canary} line ${i + 1}\n`).join(''))

// The client's credentials go to curl on stdin (-K -), not argv, which every process can read.
const APP = `set -u
s3() { out=$1; shift; printf 'user = "%s:%s"\\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" | curl -sS -K - --aws-sigv4 aws:amz:${s3.region}:s3 -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -o "$out" -w '%{http_code}' "$@"; }
seq 1 ${LINES} | sed "s/^/$CANARY line /" > /tmp/object
bucket=$(s3 /dev/null -X PUT "http://127.0.0.1:8190/$BUCKET")
put=$(s3 /dev/null -T /tmp/object "http://127.0.0.1:8190/$BUCKET/object.txt")
get=$(s3 /tmp/got "http://127.0.0.1:8190/$BUCKET/object.txt")
wrong=$(export AWS_SECRET_ACCESS_KEY=not-the-secret; s3 /dev/null "http://127.0.0.1:8190/$BUCKET/object.txt")
echo "s3 bucket=$bucket put=$put get=$get wrong-key=$wrong sent=$(sha256sum < /tmp/object | cut -d' ' -f1) got=$(sha256sum < /tmp/got | cut -d' ' -f1)"
exec sleep 3600`

/**
 * Two apps, one per way the sidecar gets its ServiceAccount token: the automounted one, and (with
 * automountServiceAccountToken: false) the projected token the webhook mounts at its own path.
 */
const APPS = [
  {name: 'app', automount: true},
  {name: 'app-own-token', automount: false},
]
const deployment = ({name, automount}: (typeof APPS)[number]) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: {name, namespace: NS},
  spec: {
    replicas: 1,
    selector: {matchLabels: {app: name}},
    template: {
      metadata: {
        labels: {app: name},
        annotations: {
          'cloudtaser.io/s3-proxy': 'true',
          'cloudtaser.io/s3-proxy-upstream': s3.endpoint,
          'cloudtaser.io/s3-proxy-region': s3.region,
          'cloudtaser.io/s3-proxy-transit-key': TRANSIT_KEY,
          'cloudtaser.io/s3-proxy-credentials': CREDENTIALS,
        },
      },
      spec: {
        ...(automount ? {} : {automountServiceAccountToken: false}),
        containers: [
          {
            name: 'app',
            image: curlImage,
            command: ['/bin/sh', '-c', APP],
            env: [
              {name: 'AWS_ACCESS_KEY_ID', valueFrom: {secretKeyRef: {name: 's3-client', key: 'access_key_id'}}},
              {name: 'AWS_SECRET_ACCESS_KEY', valueFrom: {secretKeyRef: {name: 's3-client', key: 'secret_access_key'}}},
              {name: 'CANARY', value: canary},
              {name: 'BUCKET', value: name},
            ],
          },
        ],
      },
    },
  },
})
const manifest = [
  {apiVersion: 'v1', kind: 'Namespace', metadata: {name: NS}},
  // Before protect the apps read their (proxy-only) S3 credentials from this Secret, as apps do.
  {apiVersion: 'v1', kind: 'Secret', metadata: {name: 's3-client', namespace: NS}, stringData: {access_key_id: client.accessKeyId, secret_access_key: client.secretAccessKey}},
  ...APPS.map(deployment),
]

type Pod = {
  metadata: {name: string; deletionTimestamp?: string}
  spec: {initContainers?: Array<{name: string; restartPolicy?: string; volumeMounts?: Array<{mountPath: string}>}>}
  status: {conditions?: Array<{type: string; status: string}>; initContainerStatuses?: Array<{name: string; ready: boolean; started?: boolean; restartCount: number}>}
}

t.test('discover records s3Proxy; apply-plan, verify-plan and protect; the kubelet starts the sidecar and the app round-trips an object through it', async (t) => {
  kubectl(['apply', '-f', '-'], {input: manifest.map((o) => JSON.stringify(o)).join('\n')})
  const planFile = join(work, 'plan.yaml')
  cli(['target', 'discover', '-n', NS, '-o', planFile, '--cluster-name', 'lab', '--vault-address', labEnv.BAO_ADDR!])
  const plan = jsyaml.load(readFileSync(planFile, 'utf8')) as MigrationPlan
  const workloads = plan.tenants[0]!.workloads
  t.same(workloads.map((w) => w.name).sort(), APPS.map((a) => a.name).sort())
  for (const w of workloads) {
    t.match(w.s3Proxy, {upstream: s3.endpoint, region: s3.region, transitKey: TRANSIT_KEY, credentials: CREDENTIALS}, `the plan records ${w.name}'s proxy`)
    t.equal(w.secrets[0]!.vaultPath, CREDENTIALS, 'the app\'s Secret goes to the path the proxy reads its credentials from')
  }

  // The OpenBao side: the four fields in KV, written by their owner; the Transit mount and key by apply-plan.
  const put = await root('POST', CREDENTIALS, {data: {access_key_id: client.accessKeyId, secret_access_key: client.secretAccessKey, upstream_access_key_id: s3.accessKeyId, upstream_secret_access_key: s3.secretAccessKey}})
  t.equal(put.status, 200, 'credentials written to KV')
  const early = cli(['source', 'verify-plan', planFile], {allowFail: true})
  t.equal(early.status, 1, 'verify-plan fails before apply-plan ...')
  t.match(early.stdout, `Transit key transit/keys/${TRANSIT_KEY}: missing, and nothing is mounted at transit/`, '... naming the missing key')
  t.match(cli(['source', 'apply-plan', planFile, '--dry-run']).stdout, new RegExp(`would create +transit-mount transit/[\\s\\S]*would create +transit-key transit/keys/${TRANSIT_KEY}`), 'the dry run shows the mount and the key')
  cli(['source', 'apply-plan', planFile])
  t.match(cli(['source', 'verify-plan', planFile]).stdout, `Transit key transit/keys/${TRANSIT_KEY}: present`)
  // The sidecar's startup probe allows 90 s; a healthy start takes seconds.
  const started = Date.now()
  const protect = cli(['target', 'protect', '--plan', planFile, '--yes', '--wait', '--timeout', '2m'], {allowFail: true})
  const rollouts = protect.status === 0 ? APPS.map((a) => kubectl(['-n', NS, 'rollout', 'status', `deployment/${a.name}`, '--timeout=60s'], {allowFail: true})) : [protect]
  const failed = rollouts.find((r) => r.status !== 0)
  if (failed) {
    t.comment(kubectl(['-n', NS, 'describe', 'pods'], {allowFail: true}).stdout)
    for (const a of APPS) t.comment(kubectl(['-n', NS, 'logs', `deployment/${a.name}`, '-c', S3_PROXY_CONTAINER, '--tail=50'], {allowFail: true}).stdout)
    t.fail(`the wrapped Pods did not become Ready: ${failed.stdout}${failed.stderr}`)
    return
  }
  t.comment(`the wrapped Pods Ready ${Date.now() - started} ms after protect began`)

  const sha = createHash('sha256').update(object).digest('hex')
  const stored = storedFiles(s3)
  const specs: string[] = []
  const logs: string[] = [kubectl(['-n', 'cloudtaser-system', 'logs', 'deployment/cloudtaser-operator']).stdout, readFileSync(s3.process.logPath, 'utf8')]
  for (const {name, automount} of APPS) {
    const pods = (JSON.parse(kubectl(['-n', NS, 'get', 'pods', '-l', `app=${name}`, '-o', 'json']).stdout) as {items: Pod[]}).items
    const pod = pods.find((p) => !p.metadata.deletionTimestamp && p.spec.initContainers?.some((c) => c.name === S3_PROXY_CONTAINER))!
    t.ok(pod, `${name}: the new Pod has the sidecar`)
    const sidecar = pod.spec.initContainers!.find((c) => c.name === S3_PROXY_CONTAINER)!
    t.equal(sidecar.restartPolicy, 'Always', 'a native sidecar')
    t.equal(sidecar.volumeMounts?.some((m) => m.mountPath === TOKEN_DIR), !automount, automount ? 'the automounted token' : `the projected token at ${TOKEN_DIR}`)
    t.equal(pod.status.conditions?.find((c) => c.type === 'Ready')?.status, 'True', 'the Pod is Ready')
    t.match(pod.status.initContainerStatuses?.find((s) => s.name === S3_PROXY_CONTAINER), {started: true, ready: true, restartCount: 0}, `the kubelet's startup and readiness probes on :${S3_PROXY_OPS_PORT} passed, first time`)

    const line = await until(`${name}'s line`, async () => /^s3 .*$/m.exec(kubectl(['-n', NS, 'logs', pod.metadata.name, '-c', 'app'], {allowFail: true}).stdout)?.[0], 60_000)
    t.equal(line, `s3 bucket=200 put=200 get=200 wrong-key=403 sent=${sha} got=${sha}`, 'curl put and got the same bytes through the proxy; a wrong secret key is refused')
    const body = [...stored.entries()].find(([p]) => p.endsWith(join(name, 'object.txt')))
    t.ok(body && body[1].length >= object.length, 'versitygw holds the object (ciphertext, padded)')
    specs.push(kubectl(['-n', NS, 'get', 'pod', pod.metadata.name, '-o', 'json']).stdout)
    logs.push(...['cloudtaser-init', S3_PROXY_CONTAINER, 'app'].map((c) => kubectl(['-n', NS, 'logs', pod.metadata.name, '-c', c]).stdout))
  }
  t.notOk([...stored.values()].some((b) => b.includes(canary)), 'no file of versitygw holds the canary')
  t.match(logs.join('\n'), /"msg":"listening"/, 'the proxies\' logs are among the logs searched')
  for (const [what, value] of [['the app\'s secret key', client.secretAccessKey], ['the upstream secret key', s3.secretAccessKey]] as const) {
    t.notOk(specs.some((spec) => spec.includes(value)), `${what} is not in the Pods`)
    t.notOk(logs.some((l) => l.includes(value)), `${what} is in no log (apps, sidecars, inits, operator, versitygw)`)
  }

  // The node's disk and etcd (the lab's state: etcd, containerd, the kubelet, Pod logs) and
  // versitygw's directory and log. The upstream key was only ever in OpenBao: found nowhere. The
  // apps' key was in the Kubernetes Secret before protect: etcd keeps it, which shows the hunt
  // reads etcd (and why a migration ends with a rotation).
  const huntStart = Date.now()
  const hunt = await huntCanaries([work, dirname(s3.root)], [s3.secretAccessKey, client.secretAccessKey])
  t.comment(`leak hunt: ${hunt.files} files, ${(hunt.bytes / 1e6).toFixed(0)} MB in ${Date.now() - huntStart} ms`)
  t.same(hunt.hits.filter((h) => h.canary === s3.secretAccessKey), [], 'the upstream secret key is on no disk: not in etcd, the node\'s state, a log or versitygw\'s files')
  t.ok(hunt.hits.some((h) => h.canary === client.secretAccessKey && h.path.includes('/etcd/')), 'the control: the apps\' key, once in a Kubernetes Secret, is found in etcd')
  t.comment(`whole file ${Date.now() - t0} ms`)
})
