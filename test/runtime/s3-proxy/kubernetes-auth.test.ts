// The proxy logs in to OpenBao as it does in a Pod: kubernetes auth with a ServiceAccount token
// from the lab's real kube-apiserver (TokenRequest), a role whose policy allows only the Transit
// calls the proxy makes; objects then round-trip through it.
import t from 'tap'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {CreateBucketCommand, GetObjectCommand, PutObjectCommand} from '@aws-sdk/client-s3'
import {resolveConnection} from '../../../lib/openbao/config.js'
import {startS3ProxyService} from '../../../runtime/s3-proxy/service.js'
import {sdkFor, startKubernetesAuthStack} from './fixture.js'

const {lab, s3, root, tokenFor} = await startKubernetesAuthStack()
t.teardown(() => Promise.all([lab.stop(), s3.stop()]))
// Exactly what docs/s3-proxy.md says the proxy needs.
await root('PUT', 'sys/policies/acl/billing-s3', {
  policy: 'path "transit/encrypt/billing-objects" { capabilities = ["update"] }\npath "transit/decrypt/billing-objects" { capabilities = ["update"] }\npath "transit/keys/billing-objects" { capabilities = ["read"] }',
})
await root('POST', 'auth/k8s-lab/role/billing', {bound_service_account_names: ['billing'], bound_service_account_namespaces: ['apps'], token_policies: ['billing-s3'], token_ttl: '10m'})

const work = mkdtempSync(join(tmpdir(), 'cloudtaser-s3-k8s-'))
t.teardown(() => rmSync(work, {recursive: true, force: true}))
const jwtFile = join(work, 'token')
writeFileSync(jwtFile, await tokenFor('billing', 'apps'), {mode: 0o600})
const pod = {accessKeyId: 'BILLINGPOD', secretAccessKey: randomBytes(24).toString('base64url')}
const conn = resolveConnection({'openbao-addr': lab.baoAddr, token: 'unused'}, {}, '/nonexistent')
const proxy = await startS3ProxyService({
  host: '127.0.0.1',
  port: 0,
  opsHost: '127.0.0.1',
  opsPort: 0,
  client: pod,
  upstream: {endpoint: new URL(s3.endpoint), region: s3.region, credentials: {accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey}, payload: 'streaming'},
  bao: {...conn, token: undefined},
  auth: {method: 'kubernetes', mount: 'k8s-lab', role: 'billing', jwtFile},
  transit: {mount: 'transit', key: 'billing-objects'},
  pad: true,
  requireEncrypted: false,
})
t.teardown(() => proxy.stop())

t.test('kubernetes auth: the proxy logs in with the ServiceAccount token and objects round-trip', async (t) => {
  const sdk = sdkFor(proxy.proxy.url, pod)
  t.teardown(() => sdk.destroy())
  await sdk.send(new CreateBucketCommand({Bucket: 'billing'}))
  const data = randomBytes(200_000)
  await sdk.send(new PutObjectCommand({Bucket: 'billing', Key: 'invoice.pdf', Body: data}))
  const got = Buffer.from(await (await sdk.send(new GetObjectCommand({Bucket: 'billing', Key: 'invoice.pdf'}))).Body!.transformToByteArray())
  t.ok(got.equals(data), 'every byte')
  t.match(proxy.metrics.render(), /cloudtaser_s3_proxy_transit_calls_total\{op="encrypt",result="ok"\} 1/)
})
