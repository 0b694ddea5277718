// The S3 proxy sidecar the webhook adds for cloudtaser.io/s3-proxy: "true" (pure patch builder).
import t from 'tap'
import type {V1Container, V1Pod} from '@kubernetes/client-node'
import {Annotations, INJECT_LABEL} from '../../../lib/annotations.js'
import {CLOUDTASER} from '../../../lib/lab/images.js'
import {applyPatch, CA_DIR, mutatePod, TOKEN_DIR, WRAPPER_PATH, type MutationSettings} from '../../../runtime/operator/mutation.js'
import {CLOUDTASER_IMAGE_ENTRYPOINT, S3_PROXY_CONTAINER, S3_PROXY_ENV_MAP} from '../../../runtime/operator/s3-sidecar.js'

const settings: MutationSettings = {wrapperImage: 'registry.example/wrapper:1', wrapperSource: '/cloudtaser-wrapper', s3ProxyImage: 'registry.example/cloudtaser:1'}
const base = {
  [Annotations.inject]: 'true',
  [Annotations.vaultAddress]: 'https://bao.eu.example:8200',
  [Annotations.vaultRole]: 'billing',
  [Annotations.vaultAuthPath]: 'auth/k8s-prod',
  [Annotations.secretPaths]: 'secret/data/billing/s3',
  [Annotations.envMap]: 'access_key_id=AWS_ACCESS_KEY_ID,secret_access_key=AWS_SECRET_ACCESS_KEY',
  [Annotations.onChange]: 'sighup',
  [Annotations.s3Proxy]: 'true',
  [Annotations.s3ProxyUpstream]: 'https://s3.eu-central-1.amazonaws.com',
  [Annotations.s3ProxyRegion]: 'eu-central-1',
  [Annotations.s3ProxyTransitKey]: 'billing-data',
  [Annotations.s3ProxyCredentials]: 'secret/data/billing/s3',
}
const pod = (annotations: Record<string, string> = base, spec: Partial<V1Pod['spec']> = {}): V1Pod => ({
  metadata: {annotations, labels: {[INJECT_LABEL]: 'true'}},
  spec: {containers: [{name: 'app', image: 'app:1', command: ['/bin/app']}], initContainers: [{name: 'migrate', image: 'app:1', command: ['migrate']}], ...spec},
})
const mutated = (p: V1Pod, s = settings): V1Pod => {
  const r = mutatePod(p, s)
  if (!r.allowed) throw new Error(r.message)
  return applyPatch(p, r.patch)
}
const sidecarOf = (p: V1Pod): V1Container => p.spec!.initContainers!.find((c) => c.name === S3_PROXY_CONTAINER)!
const envOf = (c: V1Container) => Object.fromEntries(c.env!.map((e) => [e.name, e.value]))

t.test('the proxy is a native sidecar after the wrapper copy, started by the wrapper with settings only', async (t) => {
  const out = mutated(pod())
  t.same(
    out.spec!.initContainers!.map((c) => c.name),
    ['cloudtaser-init', S3_PROXY_CONTAINER, 'migrate'],
    'after the wrapper is copied, before any other init container and the app',
  )
  const c = sidecarOf(out)
  t.equal(c.restartPolicy, 'Always', 'native sidecar')
  t.equal(c.image, settings.s3ProxyImage)
  t.same(c.command, [WRAPPER_PATH])
  const env = envOf(c)
  t.same(JSON.parse(env.CLOUDTASER_ORIGINAL_CMD!), [
    '/usr/local/bin/node',
    '/app/bin/run.js',
    's3-proxy',
    'run',
    '--host=127.0.0.1',
    '--port=8190',
    '--ops-host=0.0.0.0',
    '--ops-port=8191',
    '--upstream=https://s3.eu-central-1.amazonaws.com',
    '--region=eu-central-1',
    '--transit-mount=transit',
    '--transit-key=billing-data',
    '--bao-auth=kubernetes',
    '--bao-role=billing',
    '--bao-auth-mount=k8s-prod',
  ])
  t.same(
    {...env, CLOUDTASER_ORIGINAL_CMD: undefined},
    {
      BAO_ADDR: 'https://bao.eu.example:8200',
      CLOUDTASER_ORIGINAL_CMD: undefined,
      CLOUDTASER_VAULT_ADDR: 'https://bao.eu.example:8200',
      CLOUDTASER_VAULT_AUTH_PATH: 'auth/k8s-prod',
      CLOUDTASER_VAULT_ROLE: 'billing',
      CLOUDTASER_SECRET_PATHS: 'secret/data/billing/s3',
      CLOUDTASER_ENV_MAP: S3_PROXY_ENV_MAP,
      NODE_OPTIONS: '--v8-pool-size=1',
      MALLOC_ARENA_MAX: '2',
    },
    "the wrapper's login as the app's, the credentials path as its only secret, on-secret-change left at restart",
  )
  t.equal(S3_PROXY_ENV_MAP, 'access_key_id=CLOUDTASER_S3_ACCESS_KEY_ID,secret_access_key=CLOUDTASER_S3_SECRET_ACCESS_KEY,upstream_access_key_id=CLOUDTASER_S3_UPSTREAM_ACCESS_KEY_ID,upstream_secret_access_key=CLOUDTASER_S3_UPSTREAM_SECRET_ACCESS_KEY')
  t.ok(
    c.env!.every((e) => typeof e.value === 'string' && e.valueFrom === undefined),
    'no valueFrom, no Secret reference',
  )
  t.notOk('envFrom' in c)
  t.same(c.volumeMounts, [{name: 'cloudtaser-bin', mountPath: '/cloudtaser', readOnly: true}])
  t.same(c.startupProbe?.httpGet, {path: '/readyz', port: 8191})
  t.same(c.readinessProbe?.httpGet, {path: '/readyz', port: 8191})
  t.ok((c.startupProbe!.periodSeconds ?? 0) * (c.startupProbe!.failureThreshold ?? 0) >= 60, "the probe waits at least the wrapper's 60 s start deadline")
  t.same(c.resources?.requests, {cpu: '100m', memory: '128Mi'})
  t.same(c.ports, [{name: 's3-proxy-ops', containerPort: 8191}], 'only the ops port is declared; S3 stays on loopback')
  t.same(c.securityContext, {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: {drop: ['ALL']}})
  const app = out.spec!.containers[0]!
  t.same(app.command, [WRAPPER_PATH], 'the app is still wrapped')
  t.equal(envOf(app).CLOUDTASER_ON_SECRET_CHANGE, 'sighup', "the app keeps its own settings")
})

t.test("the command line starts the cloudtaser image's own entrypoint", async (t) => {
  t.same(CLOUDTASER_IMAGE_ENTRYPOINT, CLOUDTASER.config.entrypoint)
})

t.test('optional settings: transit mount, require-encrypted; a projected token; a CA; eBPF', async (t) => {
  const out = mutated(
    pod(
      {
        ...base,
        [Annotations.s3ProxyTransitMount]: 'transit-eu',
        [Annotations.s3ProxyRequireEncrypted]: 'true',
        [Annotations.vaultCaConfigMap]: 'bao-ca',
        [Annotations.ebpf]: 'true',
        [Annotations.s3ProxyUpstream]: 'http://minio.storage:9000/',
      },
      {automountServiceAccountToken: false},
    ),
  )
  const c = sidecarOf(out)
  const env = envOf(c)
  const cmd = JSON.parse(env.CLOUDTASER_ORIGINAL_CMD!) as string[]
  t.ok(cmd.includes('--transit-mount=transit-eu'))
  t.ok(cmd.includes('--require-encrypted'))
  t.ok(cmd.includes('--upstream=http://minio.storage:9000'), 'the endpoint as its origin')
  t.ok(cmd.includes(`--sa-token-file=${TOKEN_DIR}/token`), 'the projected token the wrapper uses, for the Transit login too')
  t.equal(env.BAO_CACERT, `${CA_DIR}/ca.crt`)
  t.equal(env.CLOUDTASER_VAULT_CACERT, `${CA_DIR}/ca.crt`)
  t.equal(env.CLOUDTASER_EBPF, 'true')
  t.same(
    c.volumeMounts!.map((m) => m.name),
    ['cloudtaser-bin', 'cloudtaser-sa-token', 'cloudtaser-vault-ca', 'cloudtaser-ebpf'],
  )
})

t.test('no proxy for "false" or without the annotation', async (t) => {
  for (const flag of ['false', undefined]) {
    const a: Record<string, string> = {...base}
    if (flag === undefined) delete a[Annotations.s3Proxy]
    else a[Annotations.s3Proxy] = flag
    t.notOk(sidecarOf(mutated(pod(a))), `s3-proxy ${flag}`)
  }
})

t.test('bad settings are denied, naming the annotation', async (t) => {
  const cases: [string, Record<string, string | undefined>, RegExp, MutationSettings?][] = [
    ['a value other than true/false', {[Annotations.s3Proxy]: 'yes'}, /cloudtaser\.io\/s3-proxy is "yes"; it must be "true" or "false"/],
    ['no upstream, no key', {[Annotations.s3ProxyUpstream]: undefined, [Annotations.s3ProxyTransitKey]: ''}, /needs cloudtaser\.io\/s3-proxy-upstream, cloudtaser\.io\/s3-proxy-transit-key/],
    ['no credentials path', {[Annotations.s3ProxyCredentials]: undefined}, /needs cloudtaser\.io\/s3-proxy-credentials/],
    ['an upstream that is not a URL', {[Annotations.s3ProxyUpstream]: 's3.amazonaws.com'}, /s3-proxy-upstream "s3\.amazonaws\.com" is not a URL/],
    ['an upstream that is not http(s)', {[Annotations.s3ProxyUpstream]: 'ftp://s3.example'}, /is not an http\(s\) URL/],
    ['credentials in the upstream', {[Annotations.s3ProxyUpstream]: 'https://AKIA:secret@s3.example'}, /must not hold credentials/],
    ['a bucket in the upstream', {[Annotations.s3ProxyUpstream]: 'https://s3.example/invoices'}, /without path or query/],
    ['a bad region', {[Annotations.s3ProxyRegion]: 'EU Central'}, /s3-proxy-region "EU Central" is not a region name/],
    ['a bad key name', {[Annotations.s3ProxyTransitKey]: 'a/b'}, /s3-proxy-transit-key "a\/b" is not a Transit key name/],
    ['a bad mount', {[Annotations.s3ProxyTransitMount]: '../sys'}, /s3-proxy-transit-mount "\.\.\/sys" is not a mount name/],
    ['two credentials paths', {[Annotations.s3ProxyCredentials]: 'secret/data/a,secret/data/b'}, /s3-proxy-credentials "secret\/data\/a,secret\/data\/b" is not one KV v2 API path/],
    ['a KV v1 style path', {[Annotations.s3ProxyCredentials]: 'secret/billing/s3'}, /is not one KV v2 API path/],
    ['require-encrypted not a boolean', {[Annotations.s3ProxyRequireEncrypted]: 'yes'}, /s3-proxy-require-encrypted is "yes"/],
    ['token auth', {[Annotations.vaultAuthMethod]: 'token'}, /vault-auth-method: token is not supported/],
    ['no role', {[Annotations.vaultRole]: undefined}, /logs in to OpenBao as cloudtaser\.io\/vault-role, which the Pod does not set/],
    ['no secret for the app', {[Annotations.secretPaths]: undefined}, /the app signs its S3 requests with access_key_id and secret_access_key of secret\/data\/billing\/s3, so it must get them from OpenBao too/],
    ['an operator without the image', {}, /runs without --s3-proxy-image/, {...settings, s3ProxyImage: undefined}],
  ]
  for (const [name, change, message, s] of cases) {
    const a: Record<string, string> = {...base}
    for (const [k, v] of Object.entries(change)) {
      if (v === undefined) delete a[k]
      else a[k] = v
    }
    const r = mutatePod(pod(a), s ?? settings)
    t.notOk(r.allowed, name)
    if (!r.allowed) t.match(r.message, message, name)
  }
  const r = mutatePod(pod(base, {containers: [{name: 'app', image: 'app:1', command: ['/bin/app'], ports: [{containerPort: 8190}]}]}), settings)
  t.notOk(r.allowed)
  if (!r.allowed) t.match(r.message, /listens on 8190 and 8191, which app:8190 already uses/)
})

t.test('no credential ever reaches the spec: only the path', async (t) => {
  const text = JSON.stringify(mutated(pod()))
  t.notMatch(text, /AKIA|secretAccessKey|"valueFrom"/)
  t.match(text, /secret\/data\/billing\/s3/)
})
