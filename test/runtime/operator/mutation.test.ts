import t from 'tap'
import type {V1Pod} from '@kubernetes/client-node'
import {Annotations, INJECT_LABEL} from '../../../lib/annotations.js'
import {applyPatch, BROKER_CA_ANNOTATION, BROKER_TOKEN_AUDIENCE, CA_DIR, CA_VOLUME, containersNeedingEntrypoint, FILES_VOLUME_PREFIX, parseCaConfigMap, isMutated, mutatePod, WRAPPER_DIR, WRAPPER_PATH, type JsonPatchOp, type MutationSettings} from '../../../runtime/operator/mutation.js'

const settings: MutationSettings = {wrapperImage: 'registry.example/cloudtaser-wrapper:1', wrapperSource: '/cloudtaser-wrapper'}
const annotations = {
  [Annotations.inject]: 'true',
  [Annotations.vaultAddress]: 'https://bao.eu.example:8200',
  [Annotations.vaultRole]: 'billing',
  [Annotations.vaultAuthPath]: 'auth/k8s-prod',
  [Annotations.secretPaths]: 'secret/data/billing/db,secret/data/billing/api',
  [Annotations.envMap]: 'password=PGPASSWORD,username=PGUSER;*=API_',
}
const pod = (over: Partial<V1Pod['spec']> = {}, meta: V1Pod['metadata'] = {annotations, labels: {[INJECT_LABEL]: 'true'}}): V1Pod => ({
  metadata: meta,
  spec: {
    containers: [
      {name: 'app', image: 'app:1', command: ['/bin/app', '--serve'], args: ['--port', '8080'], env: [{name: 'MODE', value: 'prod'}]},
      {name: 'side', image: 'side:1', command: ['side']},
    ],
    volumes: [{name: 'data', emptyDir: {}}],
    initContainers: [{name: 'migrate', image: 'app:1', command: ['migrate']}],
    ...over,
  },
})

t.test('a selected pod is wrapped: volume, init container, command, settings env', async (t) => {
  const r = mutatePod(pod(), settings)
  if (!r.allowed) throw new Error('denied')
  t.equal(r.reason, 'mutated')
  const out = applyPatch(pod(), r.patch)
  t.same(out.spec!.volumes, [{name: 'data', emptyDir: {}}, {name: 'cloudtaser-bin', emptyDir: {medium: 'Memory', sizeLimit: '64Mi'}}])
  t.same(out.spec!.initContainers!.map((c) => c.name), ['cloudtaser-init', 'migrate'], 'wrapper copied before other init containers')
  t.same(out.spec!.initContainers![0]!.command, ['/cloudtaser-wrapper', 'install', WRAPPER_DIR])
  t.equal(out.spec!.initContainers![0]!.image, settings.wrapperImage)
  t.same(out.spec!.initContainers![1], {name: 'migrate', image: 'app:1', command: ['migrate']}, 'init containers are not wrapped')
  const [app, side] = out.spec!.containers
  t.same(app!.command, [WRAPPER_PATH])
  t.notOk('args' in app!, 'args moved into CLOUDTASER_ORIGINAL_CMD')
  const env = Object.fromEntries(app!.env!.map((e) => [e.name, e.value]))
  t.same(env, {
    MODE: 'prod',
    CLOUDTASER_ORIGINAL_CMD: JSON.stringify(['/bin/app', '--serve', '--port', '8080']),
    CLOUDTASER_VAULT_ADDR: 'https://bao.eu.example:8200',
    CLOUDTASER_VAULT_AUTH_PATH: 'auth/k8s-prod',
    CLOUDTASER_VAULT_ROLE: 'billing',
    CLOUDTASER_SECRET_PATHS: 'secret/data/billing/db,secret/data/billing/api',
    CLOUDTASER_ENV_MAP: 'password=PGPASSWORD,username=PGUSER;*=API_',
  })
  t.ok(app!.env!.every((e) => e.valueFrom === undefined), 'no valueFrom: settings only')
  t.same(app!.volumeMounts, [{name: 'cloudtaser-bin', mountPath: '/cloudtaser', readOnly: true}])
  t.same(side!.command, [WRAPPER_PATH])
  t.equal(side!.env!.find((e) => e.name === 'CLOUDTASER_ORIGINAL_CMD')!.value, '["side"]')
  t.ok(isMutated(out))
})

t.test('reinvocation-safe: an already mutated pod gets an empty patch', async (t) => {
  const r = mutatePod(pod(), settings)
  if (!r.allowed) throw new Error('denied')
  const again = mutatePod(applyPatch(pod(), r.patch), settings)
  t.same(again, {allowed: true, patch: [], reason: 'already-mutated'})
})

t.test('a pod without the label or annotation is not touched', async (t) => {
  t.same(mutatePod(pod({}, {}), settings), {allowed: true, patch: [], reason: 'not-selected'})
})

t.test('a container without command is denied with its name and what to do', async (t) => {
  const r = mutatePod(pod({containers: [{name: 'web', image: 'nginx:1'}, {name: 'ok', image: 'x', command: ['x']}]}), settings)
  t.equal(r.allowed, false)
  t.match((r as {message: string}).message, /container "web" has no command and the image entrypoint is unknown.*Set command/)
  const why = mutatePod(pod({containers: [{name: 'web', image: 'nginx:1'}]}), settings, {}, {web: 'registry said 401'})
  t.match((why as {message: string}).message, /\(registry said 401\)/)
})

t.test('a command-less container runs ENTRYPOINT + (args, else CMD) from the image', async (t) => {
  const p = pod({containers: [{name: 'web', image: 'nginx:1'}, {name: 'job', image: 'j:1', args: ['--once']}]})
  const image = {entrypoint: ['/docker-entrypoint.sh'], cmd: ['nginx', '-g', 'daemon off;']}
  const r = mutatePod(p, settings, {web: image, job: image})
  if (!r.allowed) throw new Error(r.message)
  const [web, job] = applyPatch(p, r.patch).spec!.containers
  const cmdOf = (c: typeof web) => c!.env!.find((e) => e.name === 'CLOUDTASER_ORIGINAL_CMD')!.value
  t.equal(cmdOf(web), JSON.stringify(['/docker-entrypoint.sh', 'nginx', '-g', 'daemon off;']))
  t.equal(cmdOf(job), JSON.stringify(['/docker-entrypoint.sh', '--once']), 'args replace CMD')
})

t.test('missing settings are denied (nothing to inject is allowed); an operator default address fills in', async (t) => {
  const {[Annotations.vaultAddress]: _a, ...noAddr} = annotations
  t.match(mutatePod(pod({}, {annotations: noAddr}), settings), {allowed: false, message: /vault-address/})
  t.match(mutatePod(pod({}, {annotations: noAddr}), {...settings, defaultVaultAddress: 'https://bao:8200'}), {allowed: true, reason: 'mutated'})
  const {[Annotations.secretPaths]: _p, ...noPaths} = annotations
  t.match(mutatePod(pod({}, {annotations: noPaths}), settings), {allowed: true, patch: [], reason: 'nothing-to-inject', warnings: [/starts without the wrapper/]}, 'nothing to inject: created as it is, never denied')
  t.match(mutatePod(pod({}, {annotations: {...noPaths, [Annotations.secretPaths]: ' '}}), settings), {allowed: true, reason: 'nothing-to-inject'})
})

t.test('start-deadline and poll-interval annotations reach the wrapper as its env', async (t) => {
  const p = pod({containers: [{name: 'app', image: 'a', command: ['a'], env: [{name: 'CLOUDTASER_START_DEADLINE', value: '1h'}]}]})
  p.metadata!.annotations = {...p.metadata!.annotations, 'cloudtaser.io/start-deadline': '3s', 'cloudtaser.io/poll-interval': '5m'}
  const r = mutatePod(p, settings)
  if (!r.allowed) throw new Error('denied')
  const env = applyPatch(p, r.patch).spec!.containers[0]!.env!
  t.same(env.filter((e) => /DEADLINE|POLL/.test(e.name)), [{name: 'CLOUDTASER_START_DEADLINE', value: '3s'}, {name: 'CLOUDTASER_POLL_INTERVAL', value: '5m'}], 'the annotation, never the container\'s own CLOUDTASER_ env')
})

t.test('stale CLOUDTASER_* env on the container is replaced, never duplicated', async (t) => {
  const p = pod({containers: [{name: 'app', image: 'a', command: ['a'], env: [{name: 'CLOUDTASER_VAULT_TOKEN', value: 'x'}]}]})
  const r = mutatePod(p, settings)
  if (!r.allowed) throw new Error('denied')
  const names = applyPatch(p, r.patch).spec!.containers[0]!.env!.map((e) => e.name)
  t.notOk(names.includes('CLOUDTASER_VAULT_TOKEN'))
  t.equal(new Set(names).size, names.length)
})

const patchOf = (p: V1Pod): JsonPatchOp[] => {
  const r = mutatePod(p, settings)
  if (!r.allowed) throw new Error(r.message)
  return r.patch
}

t.test('automountServiceAccountToken false: a projected token of our own for kubernetes auth', async (t) => {
  const p = pod({automountServiceAccountToken: false})
  const r = mutatePod(p, settings)
  if (!r.allowed) throw new Error('denied')
  const out = applyPatch(p, r.patch)
  t.same(out.spec!.volumes!.find((v) => v.name === 'cloudtaser-sa-token'), {
    name: 'cloudtaser-sa-token',
    projected: {sources: [{serviceAccountToken: {path: 'token', expirationSeconds: 3600}}]},
  })
  for (const c of out.spec!.containers) {
    t.ok(c.volumeMounts!.some((m) => m.name === 'cloudtaser-sa-token' && m.mountPath === '/var/run/secrets/cloudtaser.io/serviceaccount' && m.readOnly))
    t.equal(c.env!.find((e) => e.name === 'CLOUDTASER_SA_TOKEN_FILE')?.value, '/var/run/secrets/cloudtaser.io/serviceaccount/token')
  }
  const plain = applyPatch(pod(), patchOf(pod()))
  t.notOk(plain.spec!.volumes!.some((v) => v.name === 'cloudtaser-sa-token'), 'not added when the token is automounted')
  const tokenAuth = pod({automountServiceAccountToken: false}, {annotations: {...annotations, [Annotations.vaultAuthMethod]: 'token'}})
  t.notOk(applyPatch(tokenAuth, patchOf(tokenAuth)).spec!.volumes!.some((v) => v.name === 'cloudtaser-sa-token'), 'not for token auth')
})

t.test('an entrypoint recorded in an annotation needs no registry', async (t) => {
  const p = pod({containers: [{name: 'web', image: 'nginx:1'}]}, {
    annotations: {...annotations, 'cloudtaser.io/entrypoint.web': JSON.stringify({entrypoint: ['/e'], cmd: ['c'], digest: 'sha256:00'})},
  })
  t.same(containersNeedingEntrypoint(p), [], 'nothing to look up')
  const r = mutatePod(p, settings)
  if (!r.allowed) throw new Error(r.message)
  t.equal(applyPatch(p, r.patch).spec!.containers[0]!.env!.find((e) => e.name === 'CLOUDTASER_ORIGINAL_CMD')!.value, '["/e","c"]')
  const bad = pod({containers: [{name: 'web', image: 'nginx:1'}]}, {annotations: {...annotations, 'cloudtaser.io/entrypoint.web': 'not json'}})
  t.equal(containersNeedingEntrypoint(bad).length, 1, 'a malformed record falls back to the registry')
})

t.test("OpenBao's CA from a ConfigMap: annotation over operator default, fail-closed mount, bad names denied", async (t) => {
  const withCa = (value?: string): V1Pod => pod({}, {annotations: {...annotations, ...(value === undefined ? {} : {[Annotations.vaultCaConfigMap]: value})}, labels: {[INJECT_LABEL]: 'true'}})
  const mutated = (p: V1Pod, s: MutationSettings = settings) => {
    const r = mutatePod(p, s)
    if (!r.allowed) throw new Error(r.message)
    return applyPatch(p, r.patch)
  }
  const out = mutated(withCa('openbao-ca'))
  t.same(out.spec!.volumes!.at(-1), {name: CA_VOLUME, configMap: {name: 'openbao-ca', items: [{key: 'ca.crt', path: 'ca.crt'}]}}, 'not optional: no CA, no start')
  for (const c of out.spec!.containers) {
    t.same(c.volumeMounts!.at(-1), {name: CA_VOLUME, mountPath: CA_DIR, readOnly: true})
    t.equal(c.env!.find((e) => e.name === 'CLOUDTASER_VAULT_CACERT')!.value, `${CA_DIR}/ca.crt`)
  }
  const keyed = mutated(withCa('bundle/eu-root.pem'))
  t.same(keyed.spec!.volumes!.at(-1)!.configMap, {name: 'bundle', items: [{key: 'eu-root.pem', path: 'ca.crt'}]})
  const byDefault = mutated(withCa(), {...settings, defaultVaultCaConfigMap: 'fleet-ca'})
  t.equal(byDefault.spec!.volumes!.at(-1)!.configMap!.name, 'fleet-ca', 'operator default applies')
  const overridden = mutated(withCa('team-ca'), {...settings, defaultVaultCaConfigMap: 'fleet-ca'})
  t.equal(overridden.spec!.volumes!.at(-1)!.configMap!.name, 'team-ca', 'the annotation wins')
  const none = mutated(withCa())
  t.notOk(none.spec!.volumes!.some((v) => v.name === CA_VOLUME), 'no CA configured: nothing mounted')
  t.notOk(none.spec!.containers[0]!.env!.some((e) => e.name === 'CLOUDTASER_VAULT_CACERT'))
  for (const bad of ['Bad_Name', 'a/b/c', 'ok/../x', 'ok/..']) {
    const r = mutatePod(withCa(bad), settings)
    t.match(r, {allowed: false, message: /cloudtaser\.io\/vault-ca-configmap: .*(not a ConfigMap name|not a valid ConfigMap key)/}, bad)
  }
  t.same(parseCaConfigMap('a.b-c/k_1.pem'), {name: 'a.b-c', key: 'k_1.pem'})
})

t.test('beacon mode: Pods without their own address get the broker and the cluster CA through a downwardAPI file; refused until the broker published it', async (t) => {
  const {[Annotations.vaultAddress]: _address, ...rest} = annotations
  const p = pod({}, {annotations: rest, labels: {[INJECT_LABEL]: 'true'}})
  const beacon = {...settings, defaultVaultAddress: 'https://cloudtaser-broker.cloudtaser-system.svc:8200'}
  const early = mutatePod(p, {...beacon, brokerCa: {configMap: 'cloudtaser-system/cloudtaser-broker-ca'}})
  t.match(early, {allowed: false, message: /broker has not bootstrapped through the beacon yet \(no cluster CA in ConfigMap cloudtaser-system\/cloudtaser-broker-ca\)/})
  const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'
  const r = mutatePod(p, {...beacon, brokerCa: {configMap: 'cloudtaser-system/cloudtaser-broker-ca', pem}})
  if (!r.allowed) throw new Error(r.message)
  const out = applyPatch(p, r.patch)
  t.equal(out.metadata!.annotations![BROKER_CA_ANNOTATION], pem, 'the PEM travels on the Pod (public)')
  t.same(out.spec!.volumes!.find((v) => v.name === CA_VOLUME), {name: CA_VOLUME, downwardAPI: {items: [{path: 'ca.crt', fieldRef: {fieldPath: `metadata.annotations['${BROKER_CA_ANNOTATION}']`}}]}})
  for (const c of out.spec!.containers) {
    t.equal(c.env!.find((e) => e.name === 'CLOUDTASER_VAULT_ADDR')!.value, 'https://cloudtaser-broker.cloudtaser-system.svc:8200')
    t.equal(c.env!.find((e) => e.name === 'CLOUDTASER_VAULT_CACERT')!.value, `${CA_DIR}/ca.crt`)
  }
  t.equal(out.metadata!.annotations![Annotations.secretPaths], annotations[Annotations.secretPaths], 'the Pod\'s own annotations are kept')
  t.same(out.spec!.volumes!.find((v) => v.name === 'cloudtaser-sa-token'), {name: 'cloudtaser-sa-token', projected: {sources: [{serviceAccountToken: {path: 'token', expirationSeconds: 3600, audience: BROKER_TOKEN_AUDIENCE}}]}}, 'a token for the audience the jwt role binds')
  t.equal(out.spec!.containers[0]!.env!.find((e) => e.name === 'CLOUDTASER_SA_TOKEN_FILE')?.value, '/var/run/secrets/cloudtaser.io/serviceaccount/token')
  const planned = pod({}, {annotations: {...rest, [Annotations.vaultAddress]: beacon.defaultVaultAddress}, labels: {[INJECT_LABEL]: 'true'}})
  const viaPlan = mutatePod(planned, {...beacon, brokerCa: {configMap: 'x/y', pem}})
  t.ok(viaPlan.allowed && JSON.stringify(viaPlan.patch).includes(BROKER_CA_ANNOTATION), 'a Pod whose address is the broker\'s (from a plan) gets the CA too')
  const own = mutatePod(pod(), {...beacon, brokerCa: {configMap: 'x/y'}})
  t.ok(own.allowed, 'a Pod with its own vault-address is not held for the broker')
  if (own.allowed) t.notOk(JSON.stringify(own.patch).includes(BROKER_CA_ANNOTATION))
})

t.test('file-map: a memory emptyDir per mountPath in every container, the map passed on; bad maps and taken paths denied', async (t) => {
  const fileMap = JSON.stringify([
    {path: 'secret/data/billing/tls', mountPath: '/etc/tls', items: [{field: 'tls.crt', mode: 256}]},
    {path: 'secret/data/billing/conf', mountPath: '/etc/conf'},
  ])
  const r = mutatePod(pod({}, {annotations: {...annotations, [Annotations.fileMap]: fileMap}, labels: {[INJECT_LABEL]: 'true'}}), settings)
  if (!r.allowed) throw new Error(r.message)
  const out = applyPatch(pod(), r.patch)
  t.same(
    out.spec!.volumes!.filter((v) => v.name.startsWith(FILES_VOLUME_PREFIX)),
    [0, 1].map((i) => ({name: `${FILES_VOLUME_PREFIX}${i}`, emptyDir: {medium: 'Memory', sizeLimit: '4Mi'}})),
  )
  for (const c of out.spec!.containers) {
    t.same(c.volumeMounts!.filter((m) => m.name.startsWith(FILES_VOLUME_PREFIX)), [{name: `${FILES_VOLUME_PREFIX}0`, mountPath: '/etc/tls'}, {name: `${FILES_VOLUME_PREFIX}1`, mountPath: '/etc/conf'}], `${c.name}: writable mounts`)
    t.equal(c.env!.find((e) => e.name === 'CLOUDTASER_FILE_MAP')!.value, fileMap, `${c.name}: the map as written`)
  }
  const b64 = JSON.stringify({'secret/data/billing/tls': ['tls.key']})
  const withB64 = mutatePod(pod({}, {annotations: {...annotations, [Annotations.base64Fields]: b64}, labels: {[INJECT_LABEL]: 'true'}}), settings)
  if (!withB64.allowed) throw new Error(withB64.message)
  for (const c of applyPatch(pod(), withB64.patch).spec!.containers) t.equal(c.env!.find((e) => e.name === 'CLOUDTASER_BASE64_FIELDS')?.value, b64, `${c.name}: base64-fields passed on`)
  const onlyFiles = Object.fromEntries(Object.entries(annotations).filter(([k]) => k !== Annotations.secretPaths && k !== Annotations.envMap))
  t.ok(mutatePod(pod({}, {annotations: {...onlyFiles, [Annotations.fileMap]: fileMap}, labels: {[INJECT_LABEL]: 'true'}}), settings).allowed, 'files alone are enough')
  for (const [bad, why] of [
    ['{', /file-map is not JSON/],
    ['{}', /must be a JSON array/],
    ['[{"path":"p","mountPath":"etc"}]', /absolute mountPath/],
    ['[{"path":"p","mountPath":"/a"},{"path":"q","mountPath":"/a"}]', /appears twice/],
  ] as const) {
    const d = mutatePod(pod({}, {annotations: {...annotations, [Annotations.fileMap]: bad}, labels: {[INJECT_LABEL]: 'true'}}), settings)
    t.match(d, {allowed: false, message: why}, bad)
  }
  const mounted = pod({containers: [{name: 'app', image: 'app:1', command: ['/bin/app'], volumeMounts: [{name: 'tls', mountPath: '/etc/tls'}]}]}, {annotations: {...annotations, [Annotations.fileMap]: fileMap}, labels: {[INJECT_LABEL]: 'true'}})
  t.match(mutatePod(mounted, settings), {allowed: false, message: /app:\/etc\/tls, where the container already mounts a volume/})
})

t.test('ebpf: the annotations passed on and the agent socket directory mounted read-only', async (t) => {
  const meta = {annotations: {...annotations, [Annotations.ebpf]: 'true', [Annotations.ebpfFail]: 'open'}, labels: {[INJECT_LABEL]: 'true'}}
  const r = mutatePod(pod({}, meta), settings)
  if (!r.allowed) throw new Error(r.message)
  const out = applyPatch(pod(), r.patch)
  t.same(out.spec!.volumes!.find((v) => v.name === 'cloudtaser-ebpf'), {name: 'cloudtaser-ebpf', hostPath: {path: '/run/cloudtaser', type: 'DirectoryOrCreate'}})
  for (const c of out.spec!.containers) {
    t.same(c.volumeMounts!.find((m) => m.name === 'cloudtaser-ebpf'), {name: 'cloudtaser-ebpf', mountPath: '/run/cloudtaser', readOnly: true})
    t.same(c.env!.filter((e) => e.name.startsWith('CLOUDTASER_EBPF')), [{name: 'CLOUDTASER_EBPF', value: 'true'}, {name: 'CLOUDTASER_EBPF_FAIL', value: 'open'}])
  }
  const off = applyPatch(pod(), (mutatePod(pod(), settings) as {patch: JsonPatchOp[]}).patch)
  t.notOk(off.spec!.volumes!.some((v) => v.name === 'cloudtaser-ebpf'), 'no mount without the annotation')
  t.equal(out.spec!.affinity, undefined, 'fail-open: schedulable anywhere')
  // The chart's ebpf.socketDir elsewhere on the node: that directory, still where the wrapper looks.
  const moved = mutatePod(pod({}, meta), {...settings, ebpfSocketDir: '/var/lib/ct-ebpf'})
  if (!moved.allowed) throw new Error(moved.message)
  const movedPod = applyPatch(pod(), moved.patch)
  t.same(movedPod.spec!.volumes!.find((v) => v.name === 'cloudtaser-ebpf')?.hostPath, {path: '/var/lib/ct-ebpf', type: 'DirectoryOrCreate'})
  t.same(movedPod.spec!.containers[0]!.volumeMounts!.find((m) => m.name === 'cloudtaser-ebpf')?.mountPath, '/run/cloudtaser')
})

t.test('ebpf fail-closed: scheduled only on nodes whose agent enforces, ANDed into every existing node selector term', async (t) => {
  const meta = {annotations: {...annotations, [Annotations.ebpf]: 'true'}, labels: {[INJECT_LABEL]: 'true'}}
  const enforce = {key: 'cloudtaser.io/kernel-protection', operator: 'In', values: ['enforce']}
  const plain = applyPatch(pod({}, meta), (mutatePod(pod({}, meta), settings) as {patch: JsonPatchOp[]}).patch)
  t.same(plain.spec!.affinity, {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [enforce]}]}}})
  const zone = {key: 'topology.kubernetes.io/zone', operator: 'In', values: ['eu-1']}
  const own = {
    podAntiAffinity: {preferredDuringSchedulingIgnoredDuringExecution: []},
    nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [zone]}, {matchFields: [{key: 'metadata.name', operator: 'In', values: ['n1']}]}]}},
  }
  const mine = pod({affinity: own}, meta)
  const out = applyPatch(mine, (mutatePod(mine, settings) as {patch: JsonPatchOp[]}).patch)
  t.same(out.spec!.affinity!.podAntiAffinity, own.podAntiAffinity, 'other affinity kept')
  t.same(out.spec!.affinity!.nodeAffinity!.requiredDuringSchedulingIgnoredDuringExecution!.nodeSelectorTerms, [
    {matchExpressions: [zone, enforce]},
    {matchFields: [{key: 'metadata.name', operator: 'In', values: ['n1']}], matchExpressions: [enforce]},
  ])
})
