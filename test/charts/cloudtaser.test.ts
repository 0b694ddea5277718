// charts/cloudtaser: helm lint, helm template with default and other values, kubeconform -strict
// on every rendering (Kubernetes schemas of the lab's release), and the properties the chart
// promises: hardening, the webhook's selectors (equal to what the operator writes), no Secret
// unless secretBackend=kubernetes, least-privilege RBAC, flags the daemons really accept.
// The apiserver half (dry-run apply, failurePolicy with the operator down) is cloudtaser-apiserver.test.ts.
import t from 'tap'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import jsyaml from 'js-yaml'
import {INJECT_LABEL} from '../../lib/annotations.js'
import {REGISTRY_ALIAS} from '../../lib/lab/node.js'
import {DEFAULT_AGENT_SOCKET} from '../../lib/ebpf/register.js'
import {DEFAULT_WRAPPER_SOURCE, EBPF_SOCKET_DIR} from '../../runtime/operator/mutation.js'
import {desiredWebhookConfiguration, WEBHOOK_CONFIG_NAME} from '../../runtime/operator/webhook-config.js'
import OperatorRun from '../../cli/commands/operator/run.js'
import EbpfRun from '../../cli/commands/ebpf/run.js'
import {byKind, chartDir, flagPairs, kubeconform, kubeVersion, lint, NAMESPACE, notes, one, render, renderError, root, type K8sObject} from './helpers.js'

/** Values far from the defaults: every branch of the templates the defaults do not take. */
const OTHER = {
  global: {imageRegistry: 'registry.example.eu/ct', imagePullSecrets: ['pull-ct']},
  operator: {
    ha: false,
    vaultAddress: 'https://openbao.example.eu:8200',
    vaultCaConfigMap: 'openbao-ca/ca.pem',
    secretBackend: 'kubernetes',
    webhook: {failurePolicy: 'Ignore', timeoutSeconds: 10, excludeNamespaces: ['monitoring', 'kube-system']},
    registryMirrors: ['cloudtaser.lab=http://10.0.0.1:5000'],
    rbac: {readPullSecrets: false},
    serviceAccount: {annotations: {'iam.example/role': 'ct'}},
    nodeSelector: {pool: 'system'},
    tolerations: [{key: 'dedicated', operator: 'Equal', value: 'system', effect: 'NoSchedule'}],
    affinity: {nodeAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: 1, preference: {matchExpressions: [{key: 'pool', operator: 'In', values: ['system']}]}}]}},
    priorityClassName: 'system-cluster-critical',
    podAnnotations: {'example/a': 'b'},
    podLabels: {team: 'platform'},
    extraArgs: ['--context=in-cluster'],
    networkPolicy: {webhookFrom: [{ipBlock: {cidr: '10.0.0.0/8'}}], extraEgress: [{ports: [{port: 5000, protocol: 'TCP'}]}]},
  },
  ebpf: {enforceMode: false, socketDir: '/var/lib/ct-ebpf', metrics: {podAnnotations: false}, podAnnotations: {'example/c': 'd'}, podLabels: {team: 'platform'}, priorityClassName: '', extraArgs: ['--json']},
  wrapper: {image: {repository: 'ct-wrapper', tag: '1.2.3'}},
}

const HA_SPREAD = {operator: {replicas: 3, topologySpreadConstraints: [{maxSkew: 2, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule'}]}}

const defaults = await render()
const other = await render(OTHER)
const spread = await render(HA_SPREAD)
const packageVersion = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {version: string}).version

const container = (o: K8sObject, name: string) => o.spec.template.spec.containers.find((c: {name: string}) => c.name === name)
const operatorArgs = (r: {objects: K8sObject[]}) => flagPairs(container(one(r.objects, 'Deployment', 'cloudtaser-operator'), 'operator').args)
const agentArgs = (r: {objects: K8sObject[]}) => flagPairs(container(one(r.objects, 'DaemonSet', 'cloudtaser-ebpf-agent'), 'agent').args)
const flag = (pairs: Array<[string, string]>, name: string) => pairs.filter(([k]) => k === name).map(([, v]) => v)

t.test('helm lint --strict passes with default and other values', async (t) => {
  for (const values of [{}, OTHER, HA_SPREAD]) {
    const r = await lint(values)
    t.equal(r.code, 0, `lint ${JSON.stringify(values).slice(0, 60)}: ${r.stdout}${r.stderr}`)
    t.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/)
  }
})

t.test('kubeconform -strict accepts every rendering, and rejects what the apiserver would', async (t) => {
  for (const [name, r] of Object.entries({defaults, other, spread})) {
    const kc = await kubeconform(r.text)
    t.equal(kc.code, 0, `${name}: ${kc.stdout}${kc.stderr}`)
    t.same(kc.summary, {valid: r.objects.length, invalid: 0, errors: 0, skipped: 0}, `${name}: every object has a ${kubeVersion} schema and passes it`)
  }
  // The schemas are real: a typo'd field, a wrong type and an unknown kind each fail.
  const deployment = one(defaults.objects, 'Deployment')
  const broken = structuredClone(deployment)
  container(broken, 'operator').securityContext.readOnlyRootFilesytem = true
  const wrongType = structuredClone(deployment)
  wrongType.spec.replicas = 'two'
  for (const [what, obj] of [['unknown field', broken], ['wrong type', wrongType], ['unknown kind', {apiVersion: 'cloudtaser.io/v1', kind: 'Nope', metadata: {name: 'x'}}]] as const) {
    const kc = await kubeconform(jsyaml.dump(obj))
    t.not(kc.code, 0, `kubeconform rejects a ${what}`)
  }
})

t.test('the chart version follows the CLI release (package.json)', async (t) => {
  const chart = jsyaml.load(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as {appVersion: string}
  t.equal(chart.appVersion, packageVersion)
  t.equal(container(one(defaults.objects, 'Deployment'), 'operator').image, `${REGISTRY_ALIAS}/cloudtaser:${packageVersion}`, 'the name the lab\'s nodes pull from its registry')
})

t.test('the objects rendered, and no Secret unless secretBackend=kubernetes', async (t) => {
  const kinds = (r: {objects: K8sObject[]}) => r.objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()
  t.same(kinds(defaults), [
    'ClusterRole/cloudtaser-ebpf-agent',
    'ClusterRole/cloudtaser-operator',
    'ClusterRoleBinding/cloudtaser-ebpf-agent',
    'ClusterRoleBinding/cloudtaser-operator',
    'CustomResourceDefinition/debugreports.cloudtaser.io',
    'DaemonSet/cloudtaser-ebpf-agent',
    'Deployment/cloudtaser-operator',
    `MutatingWebhookConfiguration/${WEBHOOK_CONFIG_NAME}`,
    'NetworkPolicy/cloudtaser-operator',
    'PodDisruptionBudget/cloudtaser-operator',
    'Role/cloudtaser-operator',
    'RoleBinding/cloudtaser-operator',
    'Service/cloudtaser-operator',
    'ServiceAccount/cloudtaser-ebpf-agent',
    'ServiceAccount/cloudtaser-operator',
  ])
  t.same(byKind(defaults.objects, 'Secret'), [], 'no Secret by default')
  t.same(byKind(spread.objects, 'Secret'), [])
  const secrets = byKind(other.objects, 'Secret')
  t.equal(secrets.length, 1, 'secretBackend=kubernetes renders one Secret')
  t.equal(secrets[0]!.metadata.name, 'cloudtaser-operator-pki')
  t.notOk(secrets[0]!.data ?? secrets[0]!.stringData, 'rendered empty: the chart never carries key material')
  // No value anywhere in the rendering looks like key material or a token.
  for (const r of [defaults, other, spread]) t.notMatch(r.text, /BEGIN [A-Z ]*(PRIVATE KEY|CERTIFICATE)/)
  for (const o of [...defaults.objects, ...other.objects]) if (o.metadata.namespace !== undefined) t.equal(o.metadata.namespace, NAMESPACE, `${o.kind}/${o.metadata.name} in the release namespace`)

  const off = await render({ebpf: {enabled: false}, operator: {networkPolicy: {enabled: false}}})
  t.same(byKind(off.objects, 'DaemonSet'), [], 'ebpf.enabled=false: no agent')
  t.notOk(off.objects.some((o) => o.metadata.name === 'cloudtaser-ebpf-agent'))
  t.same(byKind(off.objects, 'NetworkPolicy'), [], 'networkPolicy.enabled=false')

  const noDiag = await render({operator: {diagnostics: {enabled: false}}})
  t.same(byKind(noDiag.objects, 'CustomResourceDefinition'), [], 'diagnostics.enabled=false: no DebugReport CRD')
  t.notMatch(JSON.stringify(one(noDiag.objects, 'ClusterRole', 'cloudtaser-operator')), /pods|events|nodes|debugreports/, 'and no read rules')
  t.notOk(one(noDiag.objects, 'Deployment').spec.template.spec.containers[0].args.includes('--diagnostics'))
  t.ok(one(defaults.objects, 'Deployment').spec.template.spec.containers[0].args.includes('--diagnostics'), 'on by default')
})

t.test('operator: HA, hardening, resources, probes', async (t) => {
  const d = one(defaults.objects, 'Deployment')
  const pod = d.spec.template.spec
  const c = container(d, 'operator')
  t.equal(d.spec.replicas, 2, '2 replicas by default')
  t.same(d.spec.strategy.rollingUpdate, {maxSurge: 1, maxUnavailable: 0}, 'a new replica is ready before an old one goes')
  t.same(one(defaults.objects, 'PodDisruptionBudget').spec, {minAvailable: 1, selector: d.spec.selector})
  t.same(
    pod.topologySpreadConstraints.map((s: {topologyKey: string; labelSelector: unknown}) => [s.topologyKey, s.labelSelector]),
    [['kubernetes.io/hostname', d.spec.selector], ['topology.kubernetes.io/zone', d.spec.selector]],
  )
  t.match(pod.securityContext, {runAsNonRoot: true, runAsUser: 65534, seccompProfile: {type: 'RuntimeDefault'}})
  t.same(c.securityContext, {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: {drop: ['ALL']}})
  t.notOk(pod.hostPID || pod.hostNetwork, 'no host namespaces')
  t.ok(c.resources.requests.cpu && c.resources.requests.memory, 'resource requests')
  t.same(
    ['startupProbe', 'readinessProbe', 'livenessProbe'].map((p) => [c[p].httpGet.path, c[p].httpGet.port, c[p].httpGet.scheme]),
    [['/readyz', 'ops', undefined], ['/readyz', 'ops', undefined], ['/healthz', 'ops', undefined]],
  )
  const tmp = pod.volumes.find((v: {name: string}) => v.name === 'tmp')
  t.same(tmp.emptyDir.medium, 'Memory', 'the only writable path is in RAM')
  t.equal(one(defaults.objects, 'Service').spec.ports[0].targetPort, 'webhook')

  const single = one(other.objects, 'Deployment')
  t.equal(single.spec.replicas, 1, 'ha=false: one replica')
  t.same(byKind(other.objects, 'PodDisruptionBudget'), [], 'ha=false: no PDB')
  t.notOk(single.spec.template.spec.topologySpreadConstraints)
  t.same(single.spec.template.spec.imagePullSecrets, [{name: 'pull-ct'}])
  t.match(single.spec.template.metadata, {labels: {team: 'platform'}, annotations: {'example/a': 'b'}})

  const s = one(spread.objects, 'Deployment')
  t.equal(s.spec.replicas, 3)
  t.same(s.spec.template.spec.topologySpreadConstraints, [{maxSkew: 2, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule', labelSelector: s.spec.selector}], 'given constraints get the selector')
})

t.test('webhook: objectSelector on the inject label, and the same object the operator writes', async (t) => {
  for (const [r, failurePolicy, timeoutSeconds] of [[defaults, 'Fail', 5], [other, 'Ignore', 10]] as const) {
    const mwc = one(r.objects, 'MutatingWebhookConfiguration', WEBHOOK_CONFIG_NAME)
    const wh = mwc.webhooks[0]
    t.same(wh.objectSelector, {matchLabels: {[INJECT_LABEL]: 'true'}}, 'only labelled Pods reach the webhook')
    t.equal(wh.failurePolicy, failurePolicy)
    t.notOk(wh.clientConfig.caBundle, 'caBundle is the operator\'s to write')
    // What `cloudtaser operator run` with the chart's flags writes (cli/commands/operator/run.ts):
    // the excluded namespaces it is given, plus its own Service's namespace.
    const args = operatorArgs(r)
    t.same(flag(args, 'failure-policy'), [failurePolicy])
    t.same(flag(args, 'timeout-seconds'), [String(timeoutSeconds)])
    const serviceNamespace = flag(args, 'service-namespace')[0]!
    const desired = desiredWebhookConfiguration({
      target: {service: {name: flag(args, 'service-name')[0]!, namespace: serviceNamespace, port: Number(flag(args, 'service-port')[0])}},
      caPem: '',
      failurePolicy,
      timeoutSeconds: Number(flag(args, 'timeout-seconds')[0]),
      excludeNamespaces: [...new Set([...flag(args, 'exclude-namespace'), serviceNamespace])],
    })
    const {caBundle: _ca, ...clientConfig} = desired.webhooks![0]!.clientConfig
    t.same(wh, {...desired.webhooks![0]!, clientConfig}, 'the operator\'s replace changes nothing but caBundle')
    t.same(one(r.objects, 'Service').metadata.name, flag(args, 'service-name')[0], 'the Service the webhook calls is the operator\'s')
  }
  t.same(one(other.objects, 'MutatingWebhookConfiguration').webhooks[0].namespaceSelector.matchExpressions[0].values, ['kube-system', NAMESPACE, 'monitoring'])
})

t.test('the daemons accept every flag the chart passes', async (t) => {
  for (const [what, pairs, command] of [
    ['operator defaults', operatorArgs(defaults), OperatorRun],
    ['operator other', operatorArgs(other), OperatorRun],
    ['agent defaults', agentArgs(defaults), EbpfRun],
    ['agent other', agentArgs(other), EbpfRun],
  ] as const) {
    // --json is oclif's own flag on every BaseCommand (enableJsonFlag).
    const flags = {...(command.enableJsonFlag ? {json: {type: 'boolean'}} : {}), ...command.flags} as Record<string, {options?: readonly string[]; multiple?: boolean; type: string}>
    for (const [name, value] of pairs) {
      const def = flags[name]
      t.ok(def, `${what}: --${name} is a flag of the command`)
      if (def?.options) t.ok(def.options.includes(value), `${what}: --${name}=${value} is one of ${def.options.join('|')}`)
      if (def?.type === 'option' && !def.multiple && pairs.filter(([k]) => k === name).length > 1) t.fail(`${what}: --${name} given twice`)
    }
  }
  t.same(flag(operatorArgs(defaults), 'wrapper-source'), [DEFAULT_WRAPPER_SOURCE])
  t.same(flag(operatorArgs(defaults), 'wrapper-image'), ['cloudtaser.lab/wrapper:dev'])
  t.same(flag(operatorArgs(other), 'wrapper-image'), ['registry.example.eu/ct/ct-wrapper:1.2.3'])
  for (const r of [defaults, other]) {
    const image = container(one(r.objects, 'Deployment', 'cloudtaser-operator'), 'operator').image
    t.same(flag(operatorArgs(r), 's3-proxy-image'), [image], 'the S3 proxy sidecar runs the operator\'s own image (it holds the CLI)')
  }
  t.same(flag(operatorArgs(other), 'default-vault-address'), ['https://openbao.example.eu:8200'])
  t.same(flag(operatorArgs(other), 'default-vault-ca-configmap'), ['openbao-ca/ca.pem'])
  t.same(flag(operatorArgs(other), 'registry-mirror'), ['cloudtaser.lab=http://10.0.0.1:5000'])
})

t.test('eBPF agent: privileged, hostPID, BTF, bpffs, the socket protected Pods mount, enforceMode', async (t) => {
  const ds = one(defaults.objects, 'DaemonSet')
  const pod = ds.spec.template.spec
  const c = container(ds, 'agent')
  t.equal(pod.hostPID, true)
  t.equal(c.securityContext.privileged, true)
  t.equal(pod.automountServiceAccountToken, true, 'a token: the agent publishes its verdict on its Node')
  t.same(c.env.find((e: {name: string}) => e.name === 'NODE_NAME'), {name: 'NODE_NAME', valueFrom: {fieldRef: {fieldPath: 'spec.nodeName'}}})
  const hostPaths = Object.fromEntries(pod.volumes.map((v: {name: string; hostPath: {path: string}}) => [v.name, v.hostPath.path]))
  const mounts = Object.fromEntries(c.volumeMounts.map((m: {name: string; mountPath: string}) => [hostPaths[m.name], m]))
  t.match(mounts['/sys/kernel/btf'], {mountPath: '/sys/kernel/btf', readOnly: true})
  t.match(mounts['/sys/fs/bpf'], {mountPath: '/sys/fs/bpf', mountPropagation: 'Bidirectional'})
  t.match(mounts[EBPF_SOCKET_DIR], {mountPath: EBPF_SOCKET_DIR}, 'the host directory the webhook mounts into protected Pods')
  t.same(flag(agentArgs(defaults), 'socket'), [DEFAULT_AGENT_SOCKET], 'where wrappers look for the socket')
  t.same(flag(operatorArgs(defaults), 'ebpf-socket-dir'), [EBPF_SOCKET_DIR], 'the webhook mounts the directory the agent uses')
  t.same(flag(agentArgs(other), 'socket'), ['/var/lib/ct-ebpf/ebpf.sock'])
  t.same(flag(operatorArgs(other), 'ebpf-socket-dir'), ['/var/lib/ct-ebpf'], 'moved: the webhook follows')
  t.same(flag(agentArgs(defaults), 'mode'), ['enforce'], 'enforceMode: true by default')
  t.same(flag(agentArgs(other), 'mode'), ['detect'], 'enforceMode: false is detect')
  t.same(
    ['startupProbe', 'readinessProbe', 'livenessProbe'].map((p) => c[p].httpGet.path),
    ['/readyz', '/readyz', '/healthz'],
  )
  t.match(ds.spec.template.metadata.annotations, {'prometheus.io/scrape': 'true', 'prometheus.io/port': String(c.ports[0].containerPort), 'prometheus.io/path': '/metrics'})
  t.same(pod.tolerations, [{operator: 'Exists'}], 'on every node')
  const otherDs = one(other.objects, 'DaemonSet')
  t.same(otherDs.spec.template.metadata.annotations, {'example/c': 'd'}, 'metrics annotations off, own ones kept')
  t.notOk(otherDs.spec.template.spec.priorityClassName)
})

t.test('RBAC: exactly the rules the README lists', async (t) => {
  const rules = (r: {objects: K8sObject[]}, kind: string, name = 'cloudtaser-operator') => one(r.objects, kind, name).rules
  t.same(rules(defaults, 'ClusterRole', 'cloudtaser-ebpf-agent'), [{apiGroups: [''], resources: ['nodes'], verbs: ['get', 'patch']}], 'the agent: its Node\'s label, nothing else')
  const webhookRule = {apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations'], resourceNames: [WEBHOOK_CONFIG_NAME], verbs: ['get', 'update']}
  const diagnostics = [
    {apiGroups: ['cloudtaser.io'], resources: ['debugreports'], verbs: ['get', 'list', 'watch', 'delete']},
    {apiGroups: ['cloudtaser.io'], resources: ['debugreports/status'], verbs: ['update', 'patch']},
    {apiGroups: [''], resources: ['pods'], verbs: ['get', 'list']},
    {apiGroups: [''], resources: ['events'], verbs: ['list', 'create']},
    {apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list']},
    {apiGroups: ['apps'], resources: ['deployments', 'statefulsets', 'daemonsets', 'replicasets'], verbs: ['get']},
    {apiGroups: ['batch'], resources: ['jobs'], verbs: ['get']},
  ]
  t.same(rules(defaults, 'ClusterRole'), [webhookRule, ...diagnostics, {apiGroups: [''], resources: ['secrets'], verbs: ['get']}])
  t.same(rules(other, 'ClusterRole'), [webhookRule, ...diagnostics], 'readPullSecrets=false: no access to Secrets')
  const lease = [
    {apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['cloudtaser-operator-leader'], verbs: ['get', 'update']},
    {apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create']},
  ]
  t.same(rules(defaults, 'Role'), lease)
  t.same(rules(other, 'Role'), [...lease, {apiGroups: [''], resources: ['secrets'], resourceNames: ['cloudtaser-operator-pki'], verbs: ['get', 'update']}])
  for (const r of [defaults, other, spread]) {
    for (const o of [...byKind(r.objects, 'ClusterRole'), ...byKind(r.objects, 'Role')]) {
      // list, watch and delete only in the diagnostics rules above: read-only objects, and the DebugReports.
      for (const rule of o.rules) if (!diagnostics.some((d) => JSON.stringify(d) === JSON.stringify(rule))) t.notOk(rule.verbs.some((v: string) => ['*', 'list', 'watch', 'delete', 'deletecollection', 'escalate', 'bind', 'impersonate'].includes(v)), `${o.kind} ${JSON.stringify(rule)}`)
    }
  }
  const binding = one(defaults.objects, 'ClusterRoleBinding', 'cloudtaser-operator')
  t.same(binding.subjects, [{kind: 'ServiceAccount', name: 'cloudtaser-operator', namespace: NAMESPACE}])
})

t.test('NetworkPolicy: the webhook port in; DNS, apiserver, registries and OpenBao out', async (t) => {
  const np = one(defaults.objects, 'NetworkPolicy')
  t.same(np.spec.podSelector, one(defaults.objects, 'Deployment').spec.selector)
  t.same(np.spec.policyTypes, ['Ingress', 'Egress'])
  t.same(np.spec.ingress, [{ports: [{port: 'webhook', protocol: 'TCP'}]}])
  t.same(np.spec.egress, [{ports: [{port: 53, protocol: 'UDP'}, {port: 53, protocol: 'TCP'}, {port: 443, protocol: 'TCP'}, {port: 6443, protocol: 'TCP'}]}, {ports: [{port: 8200, protocol: 'TCP'}]}], 'and OpenBao, where the operator keeps its material')
  const o = one(other.objects, 'NetworkPolicy')
  t.same(o.spec.ingress[0].from, [{ipBlock: {cidr: '10.0.0.0/8'}}])
  t.same(o.spec.egress.slice(1), [{ports: [{port: 8200, protocol: 'TCP'}]}, {ports: [{port: 5000, protocol: 'TCP'}]}], 'OpenBao port from vaultAddress, then extraEgress')
  const noPort = one((await render({operator: {vaultAddress: 'https://openbao.example.eu'}})).objects, 'NetworkPolicy')
  t.same(noPort.spec.egress[1], {ports: [{port: 443, protocol: 'TCP'}]}, 'https without a port is 443')
})

t.test('NOTES.txt warns about the fallback secret backend and failurePolicy Ignore', async (t) => {
  const plain = await notes()
  t.match(plain, /2 replica\(s\), webhook inject\.cloudtaser\.io \(failurePolicy Fail\)/)
  t.notMatch(plain, /WARNING|NOTE:/)
  const warned = await notes(OTHER)
  t.match(warned, /WARNING: operator\.secretBackend=kubernetes\. .*cloudtaser-system\/cloudtaser-operator-pki, that is in etcd/s)
  t.match(warned, /NOTE: failurePolicy=Ignore: .*UNWRAPPED/s)
  t.match(warned, /eBPF agent: on every node, detect mode/)
})

t.test('values the chart refuses, with the reason', async (t) => {
  t.match(await renderError({operator: {webhook: {failurePolicy: 'Never'}}}), /failurePolicy.*Fail.*Ignore/)
  t.match(await renderError({operator: {webhok: {}}}), /additional properties 'webhok' not allowed/)
  t.match(await renderError({ebpf: {enforceMode: 'enforce'}}), /enforceMode.*boolean/)
  t.match(await renderError({operator: {replicas: 1}}), /operator.ha=true needs operator.replicas >= 2/)
  t.match(await renderError({operator: {broker: {mode: 'beacon'}}}), /needs operator.broker.beacon.address/)
  t.match(await renderError({operator: {broker: {mode: 'beacon', beacon: {address: 'beacon.example.eu:443'}}}}), /needs operator.broker.beacon.caSha256: the operationalInfoHash/)
  t.match(await renderError({operator: {broker: {mode: 'beacon', beacon: {address: 'beacon.example.eu:443', caSha256: 'ab'.repeat(32)}}}}), /secretBackend=vault: the operator logs in to OpenBao through the broker with a jwt auth method; set operator.broker.beacon.authMount/)
  t.match(await renderError({operator: {broker: {mode: 'beacon', beacon: {address: 'b:443', caSha256: 'xyz'}}}}), /caSha256.*does not match pattern/)
  t.match(await renderError({operator: {broker: {mode: 'reverse'}}}), /mode=reverse needs operator.broker.beacon.caSha256: the operationalInfoHash/)
  t.match(await renderError({operator: {broker: {mode: 'reverse', beacon: {caSha256: 'ab'.repeat(32)}}}}), /mode=reverse with operator.secretBackend=vault: .*set operator.broker.beacon.authMount/)
  t.match(await renderError({operator: {secretBackend: 'kubernetes', broker: {mode: 'reverse', beacon: {caSha256: 'ab'.repeat(32)}, reverse: {service: {type: 'ClusterIP'}}}}}), /reverse.service.type/)
  t.match(await renderError({operator: {broker: {mode: 'relay'}}}), /mode.*direct.*beacon.*reverse/)
  t.match(await renderError({operator: {vaultAddress: 'openbao:8200'}}), /vaultAddress/)
  t.match(await renderError({operator: {vaultAddress: ''}}), /secretBackend=vault keeps the operator's webhook CA and certificate in OpenBao: set operator.vaultAddress/)
})

t.test('README documents every value', async (t) => {
  const readme = readFileSync(join(chartDir, 'README.md'), 'utf8')
  const values = jsyaml.load(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Record<string, unknown>
  const documented = (path: string) => readme.includes(`| \`${path}\` |`)
  const missing: string[] = []
  const walk = (obj: Record<string, unknown>, prefix: string) => {
    for (const [k, v] of Object.entries(obj)) {
      const path = prefix ? `${prefix}.${k}` : k
      if (documented(path)) continue
      if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0) walk(v as Record<string, unknown>, path)
      else missing.push(path)
    }
  }
  walk(values, '')
  t.same(missing, [], 'every value has a row in the README table')
  const table = readme.split('\n## Values\n')[1]!.split('\n## ')[0]!
  const rows = [...table.matchAll(/^\| `([a-zA-Z.]+)` \|/gm)].map((m) => m[1]!)
  t.ok(rows.length > 50, `${rows.length} rows`)
  const get = (path: string) => path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], values)
  t.same(rows.filter((p) => get(p) === undefined), [], 'and no row names a value that does not exist')
})

t.test('beacon mode: the broker Deployment, its least-privilege RBAC, and the webhook pointed at it', async (t) => {
  const pin = 'ab'.repeat(32)
  const {objects} = await render({operator: {secretBackend: 'kubernetes', broker: {mode: 'beacon', beacon: {address: 'beacon.example.eu:443', caSha256: pin}}}})
  const deploy = one(objects, 'Deployment', 'cloudtaser-broker')
  t.equal(deploy.spec.replicas, 1)
  t.equal(deploy.spec.strategy.type, 'Recreate', 'never two brokers: a second one would renew and revoke the first')
  const c = deploy.spec.template.spec.containers[0]
  t.same(c.args, ['broker', 'run', '--beacon=beacon.example.eu:443', `--ca-sha256=${pin}`, '--service-account=cloudtaser-system/cloudtaser-broker', '--publish-ca=cloudtaser-system/cloudtaser-broker-ca', '--dns-name=cloudtaser-broker.cloudtaser-system.svc', '--dns-name=cloudtaser-broker.cloudtaser-system.svc.cluster.local', '--port=8200', '--ops-port=9466'])
  t.equal(deploy.spec.template.spec.serviceAccountName, 'cloudtaser-broker')
  t.same(one(objects, 'Service', 'cloudtaser-broker').spec.ports, [{name: 'https', port: 8200, targetPort: 'https', protocol: 'TCP'}])
  t.same(one(objects, 'ClusterRole', 'cloudtaser-broker').rules, [
    {apiGroups: [''], resources: ['namespaces'], resourceNames: ['kube-system'], verbs: ['get']},
    {nonResourceURLs: ['/.well-known/openid-configuration', '/openid/v1/jwks'], verbs: ['get']},
    {apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create']},
  ])
  t.same(one(objects, 'Role', 'cloudtaser-broker').rules, [
    {apiGroups: [''], resources: ['serviceaccounts/token'], resourceNames: ['cloudtaser-broker'], verbs: ['create']},
    {apiGroups: [''], resources: ['configmaps'], resourceNames: ['cloudtaser-broker-ca'], verbs: ['update']},
    {apiGroups: [''], resources: ['configmaps'], verbs: ['create']},
  ])
  t.match(one(objects, 'Role', 'cloudtaser-operator').rules, [{}, {}, {}, {apiGroups: [''], resources: ['configmaps'], resourceNames: ['cloudtaser-broker-ca'], verbs: ['get']}])
  const migrator = one(objects, 'ServiceAccount', 'cloudtaser-migrator')
  t.equal(migrator.automountServiceAccountToken, false, 'the migrator ServiceAccount: no Pod runs as it')
  const bound = objects.filter((o) => /Binding$/.test(o.kind) && (o.subjects ?? []).some((s: {name: string}) => s.name === 'cloudtaser-migrator'))
  t.same(bound, [], 'and no Kubernetes permission: it only logs in to OpenBao (target migrate --via-broker)')
  const opArgs: string[] = one(objects, 'Deployment', 'cloudtaser-operator').spec.template.spec.containers[0].args
  t.ok(opArgs.includes('--default-vault-address=https://cloudtaser-broker.cloudtaser-system.svc:8200'), 'wrappers dial the broker')
  t.ok(opArgs.includes('--broker-ca-configmap=cloudtaser-broker-ca'))
  const np = one(objects, 'NetworkPolicy', 'cloudtaser-broker')
  t.same(np.spec.ingress, [{ports: [{port: 'https', protocol: 'TCP'}]}], 'wrappers from any namespace')
  t.same(np.spec.egress.at(-1), {ports: [{port: 443, protocol: 'TCP'}]}, 'the beacon\'s port, from its address')
  t.same(one((await render({operator: {secretBackend: 'kubernetes', broker: {mode: 'beacon', beacon: {address: 'relay.eu:8443', caSha256: pin}}}})).objects, 'NetworkPolicy', 'cloudtaser-broker').spec.egress.at(-1), {ports: [{port: 8443, protocol: 'TCP'}]})
  const plain = await render({operator: {secretBackend: 'kubernetes', broker: {mode: 'beacon', beacon: {address: 'b:443', caSha256: pin, plain: true, caConfigMap: 'beacon-ca'}}}})
  const pc = one(plain.objects, 'Deployment', 'cloudtaser-broker').spec.template.spec
  t.ok(pc.containers[0].args.includes('--beacon-plain'))
  t.ok(pc.containers[0].args.includes('--beacon-ca=/etc/cloudtaser/beacon-ca/ca.crt'))
  t.same(pc.volumes, [{name: 'beacon-ca', configMap: {name: 'beacon-ca'}}])
  t.notOk((await render()).objects.some((o) => o.metadata.name === 'cloudtaser-broker' || o.metadata.name === 'cloudtaser-migrator'), 'direct mode renders no broker and no migrator')
  const kc = await kubeconform((await render({operator: {secretBackend: 'kubernetes', broker: {mode: 'beacon', beacon: {address: 'b:443', caSha256: pin}}}})).text)
  t.equal(kc.code, 0, `kubeconform -strict: ${kc.stdout}${kc.stderr}`)
})

t.test('reverse mode: the broker listens for the bridge behind a LoadBalancer or NodePort, no beacon anywhere', async (t) => {
  const pin = 'cd'.repeat(32)
  const {objects, text} = await render({operator: {secretBackend: 'kubernetes', broker: {mode: 'reverse', beacon: {caSha256: pin}, reverse: {allowFrom: ['198.51.100.0/24'], service: {loadBalancerSourceRanges: ['198.51.100.0/24'], externalTrafficPolicy: 'Local'}}}}})
  const c = one(objects, 'Deployment', 'cloudtaser-broker').spec.template.spec.containers[0]
  t.same(c.args.slice(0, 4), ['broker', 'run', '--reverse-listen=0.0.0.0:8443', `--ca-sha256=${pin}`])
  t.notOk(c.args.some((a: string) => a.startsWith('--beacon')), 'no beacon flag')
  t.same(c.ports.at(-1), {name: 'tunnel', containerPort: 8443, protocol: 'TCP'})
  const svc = one(objects, 'Service', 'cloudtaser-broker-tunnel')
  t.equal(svc.spec.type, 'LoadBalancer', 'LoadBalancer by default')
  t.same(svc.spec.ports, [{name: 'tunnel', port: 8443, targetPort: 'tunnel', protocol: 'TCP'}], 'only the tunnel port is outside: wrappers\' port stays in the cluster')
  t.same(svc.spec.loadBalancerSourceRanges, ['198.51.100.0/24'])
  t.same(one(objects, 'Service', 'cloudtaser-broker').spec.type, undefined, 'the wrappers\' Service stays ClusterIP')
  const np = one(objects, 'NetworkPolicy', 'cloudtaser-broker')
  t.same(np.spec.ingress.at(-1), {ports: [{port: 'tunnel', protocol: 'TCP'}], from: [{ipBlock: {cidr: '198.51.100.0/24'}}]}, 'the tunnel port, from the OpenBao side\'s addresses')
  t.same(np.spec.egress.length, 1, 'egress: DNS and the apiserver only, no beacon port')
  const nodePort = await render({operator: {secretBackend: 'kubernetes', broker: {mode: 'reverse', beacon: {caSha256: pin}, reverse: {service: {type: 'NodePort', nodePort: 30443}}}}})
  t.same(one(nodePort.objects, 'Service', 'cloudtaser-broker-tunnel').spec.ports[0].nodePort, 30443)
  t.notOk(one(nodePort.objects, 'NetworkPolicy', 'cloudtaser-broker').spec.ingress.at(-1).from, 'allowFrom empty: from anywhere (the pinned mTLS refuses strangers)')
  const opArgs: string[] = one(objects, 'Deployment', 'cloudtaser-operator').spec.template.spec.containers[0].args
  t.ok(opArgs.includes('--default-vault-address=https://cloudtaser-broker.cloudtaser-system.svc:8200'), 'wrappers dial the broker, as in beacon mode')
  const kc = await kubeconform(text + '\n---\n' + nodePort.text)
  t.equal(kc.code, 0, `kubeconform -strict: ${kc.stdout}${kc.stderr}`)
})

t.test('beacon mode with secretBackend=vault: the operator logs in through the broker (jwt mount, a token of audience cloudtaser, the published CA)', async (t) => {
  const {objects} = await render({operator: {vaultAddress: '', broker: {mode: 'beacon', beacon: {address: 'b:443', caSha256: 'ab'.repeat(32), authMount: 'k8s-prod'}}}})
  const spec = one(objects, 'Deployment', 'cloudtaser-operator').spec.template.spec
  const c = spec.containers[0]
  t.ok(c.args.includes('--secret-backend=openbao'))
  t.ok(c.args.includes('--bao-auth-mount=k8s-prod'))
  t.ok(c.args.includes('--sa-token-file=/var/run/secrets/cloudtaser.io/serviceaccount/token'))
  t.same(c.env.filter((e: {name: string}) => e.name.startsWith('BAO_')), [{name: 'BAO_ADDR', value: 'https://cloudtaser-broker.cloudtaser-system.svc:8200'}, {name: 'BAO_CACERT', value: '/etc/cloudtaser/broker-ca/ca.crt'}])
  t.same(spec.volumes.find((v: {name: string}) => v.name === 'broker-ca'), {name: 'broker-ca', configMap: {name: 'cloudtaser-broker-ca', optional: true}})
  t.same(spec.volumes.find((v: {name: string}) => v.name === 'bao-token').projected.sources[0].serviceAccountToken, {path: 'token', audience: 'cloudtaser', expirationSeconds: 3600})
  t.same(one(objects, 'NetworkPolicy', 'cloudtaser-operator').spec.egress.at(-1), {ports: [{port: 8200, protocol: 'TCP'}]}, 'egress to the broker, not to an OpenBao address')
  t.notOk(objects.some((o) => o.kind === 'Secret'), 'no Kubernetes Secret in the release')
})
