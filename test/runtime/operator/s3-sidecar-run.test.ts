// The injected S3 proxy sidecar, run as the kubelet would run it: the real wrapper with the env
// the webhook wrote, against the lab's real apiserver (TokenRequest token, kubernetes auth), real
// OpenBao (KV for the credentials, Transit for the data keys) and versitygw. Only what exists in
// a container and not here is substituted (node and bin/run.js paths, the token path, the fixed
// ports, which another test could hold), each substitution checked. The role's policy is the one
// apply-plan writes for the plan's s3Proxy. Objects round-trip encrypted, and no credential is in
// the Pod spec or the wrapper's environment.
import t from 'tap'
import {spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {setTimeout as sleep} from 'node:timers/promises'
import type {V1Pod} from '@kubernetes/client-node'
import {CreateBucketCommand, GetObjectCommand, PutObjectCommand} from '@aws-sdk/client-s3'
import {Annotations, INJECT_LABEL} from '../../../lib/annotations.js'
import {expand} from '../../../lib/expansion.js'
import {applyPatch, mutatePod, TOKEN_DIR} from '../../../runtime/operator/mutation.js'
import {CLOUDTASER_IMAGE_ENTRYPOINT, S3_PROXY_CONTAINER} from '../../../runtime/operator/s3-sidecar.js'
import {desiredFromPlan} from '../../../lib/openbao/apply-plan.js'
import type {MigrationPlan} from '../../../lib/plan/types.generated.js'
import {sdkFor, startKubernetesAuthStack, storedFiles} from '../s3-proxy/fixture.js'
import {wrapperBinary} from '../wrapper/helpers.js'

const {lab, s3, root, tokenFor} = await startKubernetesAuthStack()
t.teardown(() => Promise.all([lab.stop(), s3.stop()]))
// The policy `source apply-plan` writes for a plan whose workload records this s3Proxy: the proxy
// and the app's wrapper run with exactly that.
const plan: MigrationPlan = {
  apiVersion: 'cloudtaser.io/v1',
  kind: 'MigrationPlan',
  metadata: {name: 'lab'},
  tenants: [
    {
      name: 'apps',
      namespace: 'apps',
      workloads: [
        {
          kind: 'Deployment',
          name: 'billing',
          serviceAccount: 'billing',
          secrets: [],
          s3Proxy: {upstream: s3.endpoint, region: s3.region, transitKey: 'billing-objects', credentials: 'secret/data/billing/s3'},
          status: {state: 'pending'},
        },
      ],
    },
  ],
}
await root('PUT', 'sys/policies/acl/billing-s3', {policy: desiredFromPlan(plan).policies[0]!.text})
await root('POST', 'auth/k8s-lab/role/billing', {bound_service_account_names: ['billing'], bound_service_account_namespaces: ['apps'], token_policies: ['billing-s3'], token_ttl: '10m'})
const client = {accessKeyId: 'BILLINGPOD', secretAccessKey: `canary-${randomBytes(12).toString('hex')}`}
const w = await root('POST', 'secret/data/billing/s3', {
  data: {access_key_id: client.accessKeyId, secret_access_key: client.secretAccessKey, upstream_access_key_id: s3.accessKeyId, upstream_secret_access_key: s3.secretAccessKey},
})
if (w.status !== 200) throw new Error(`kv put: HTTP ${w.status}`)

const work = mkdtempSync(join(tmpdir(), 'cloudtaser-s3-sidecar-'))
t.teardown(() => rmSync(work, {recursive: true, force: true}))
const tokenFile = join(work, 'token')
writeFileSync(tokenFile, await tokenFor('billing', 'apps'), {mode: 0o600})

// The Pod as a workload owner writes it; automountServiceAccountToken: false makes the webhook
// name the token file, which is then the one path substituted for the wrapper and the proxy.
const pod: V1Pod = {
  metadata: {
    labels: {[INJECT_LABEL]: 'true'},
    annotations: {
      [Annotations.inject]: 'true',
      [Annotations.vaultAddress]: lab.baoAddr,
      [Annotations.vaultRole]: 'billing',
      [Annotations.vaultAuthPath]: 'auth/k8s-lab',
      [Annotations.secretPaths]: 'secret/data/billing/s3',
      [Annotations.envMap]: 'access_key_id=AWS_ACCESS_KEY_ID,secret_access_key=AWS_SECRET_ACCESS_KEY',
      [Annotations.s3Proxy]: 'true',
      [Annotations.s3ProxyUpstream]: s3.endpoint,
      [Annotations.s3ProxyRegion]: s3.region,
      [Annotations.s3ProxyTransitKey]: 'billing-objects',
      [Annotations.s3ProxyCredentials]: 'secret/data/billing/s3',
    },
  },
  spec: {automountServiceAccountToken: false, containers: [{name: 'app', image: 'app:1', command: ['/bin/app']}]},
}
const r = mutatePod(pod, {wrapperImage: 'w:1', wrapperSource: '/w', s3ProxyImage: 'cloudtaser:1'})
if (!r.allowed) throw new Error(r.message)
const mutated = applyPatch(pod, r.patch)
const sidecar = mutated.spec!.initContainers!.find((c) => c.name === S3_PROXY_CONTAINER)!

// As the kubelet hands the env over: each value expanded with the variables defined before it.
const env: Record<string, string> = {PATH: process.env.PATH ?? '/usr/bin:/bin'}
for (const e of sidecar.env!) env[e.name] = expand(e.value!, (n) => env[n])
const substitutions: [string, string][] = [
  [CLOUDTASER_IMAGE_ENTRYPOINT[0]!, process.execPath],
  [CLOUDTASER_IMAGE_ENTRYPOINT[1]!, fileURLToPath(new URL('../../../bin/run.js', import.meta.url))],
  [`--sa-token-file=${TOKEN_DIR}/token`, `--sa-token-file=${tokenFile}`],
  ['--port=8190', '--port=0'],
  ['--ops-host=0.0.0.0', '--ops-host=127.0.0.1'],
  ['--ops-port=8191', '--ops-port=0'],
]
const cmd = JSON.parse(env.CLOUDTASER_ORIGINAL_CMD!) as string[]
const local = cmd.map((a) => substitutions.find(([from]) => from === a)?.[1] ?? a)
const used = substitutions.filter(([from]) => cmd.includes(from)).length
env.CLOUDTASER_ORIGINAL_CMD = JSON.stringify(local)
env.CLOUDTASER_SA_TOKEN_FILE = env.CLOUDTASER_SA_TOKEN_FILE === `${TOKEN_DIR}/token` ? tokenFile : 'not the projected token'

const stderr: string[] = []
const proc = spawn(wrapperBinary(), [], {env, stdio: ['ignore', 'ignore', 'pipe'], detached: true})
proc.stderr!.on('data', (c: Buffer) => stderr.push(c.toString()))
t.teardown(() => {
  try {
    process.kill(-proc.pid!, 'SIGKILL')
  } catch {
    // already gone
  }
})
const listening = async (): Promise<{url: string; ops: string}> => {
  const end = Date.now() + 60_000
  for (;;) {
    const line = stderr.join('').split('\n').find((l) => l.includes('"msg":"listening"'))
    if (line) return JSON.parse(line) as {url: string; ops: string}
    if (Date.now() > end || proc.exitCode !== null) throw new Error(`the proxy did not start; stderr:\n${stderr.join('')}`)
    await sleep(100)
  }
}

t.test('the sidecar starts under the wrapper, gets its credentials from OpenBao, and encrypts', async (t) => {
  t.equal(used, substitutions.length, 'every substituted argument was in the command the webhook wrote')
  const {url, ops} = await listening()
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/, 'S3 on loopback')
  t.equal((await fetch(`${ops}/readyz`)).status, 200, 'the probe path answers')
  const sdk = sdkFor(url, client)
  t.teardown(() => sdk.destroy())
  await sdk.send(new CreateBucketCommand({Bucket: 'billing'}))
  const plaintext = Buffer.from(`invoice ${randomBytes(16).toString('hex')} `.repeat(4000))
  await sdk.send(new PutObjectCommand({Bucket: 'billing', Key: 'invoice.txt', Body: plaintext}))
  const got = Buffer.from(await (await sdk.send(new GetObjectCommand({Bucket: 'billing', Key: 'invoice.txt'}))).Body!.transformToByteArray())
  t.ok(got.equals(plaintext), 'round trip')
  const needle = plaintext.subarray(0, 48)
  t.notOk(
    [...storedFiles(s3).values()].some((b) => b.includes(needle)),
    'the provider stores no plaintext',
  )
  const wrong = sdkFor(url, {accessKeyId: client.accessKeyId, secretAccessKey: 'not-the-one'})
  t.teardown(() => wrong.destroy())
  await t.rejects(wrong.send(new GetObjectCommand({Bucket: 'billing', Key: 'invoice.txt'})), 'other credentials are refused: the proxy has the ones from OpenBao')
})

t.test('no credential in the Pod spec or in the wrapper\'s environment', async (t) => {
  await listening()
  const spec = JSON.stringify(mutated)
  const environ = readFileSync(`/proc/${proc.pid}/environ`, 'utf8')
  for (const secret of [client.secretAccessKey, s3.secretAccessKey]) {
    t.notOk(spec.includes(secret), 'not in the spec')
    t.notOk(environ.includes(secret), 'not in /proc/<wrapper>/environ')
    t.notOk(stderr.join('').includes(secret), 'not in the logs')
  }
})
