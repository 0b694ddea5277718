import type {V1Affinity, V1Container, V1EnvVar, V1Pod, V1VolumeMount} from '@kubernetes/client-node'
import {Annotations, NODE_KERNEL_LABEL} from '../../lib/annotations.js'
import {BROKER_TOKEN_AUDIENCE} from '../../lib/openbao/jwt-role.js'
import {INIT_CONTAINER, isMutated, WRAPPER_DIR, WRAPPER_PATH, WRAPPER_VOLUME} from '../../lib/wrapped-pod.js'
import {S3_PROXY_ENV_MAP, S3_PROXY_OPS_PORT, S3_PROXY_PORT, s3ProxyCommand, s3ProxyContainer, s3ProxyRequest} from './s3-sidecar.js'

/**
 * Pure: from a Pod in an AdmissionReview, the JSONPatch the webhook answers with (or a denial).
 * Only settings travel into the Pod (addresses, role, paths, the env-map): never a secret value.
 */

// What a wrapped Pod looks like is shared with `target status` and `target migrate finalize`.
export {INIT_CONTAINER, isMutated, WRAPPER_DIR, WRAPPER_PATH, WRAPPER_VOLUME}
/** Only when the Pod opts out of the automounted ServiceAccount token: the wrapper still needs one to log in. */
export const TOKEN_VOLUME = 'cloudtaser-sa-token'
export const TOKEN_DIR = '/var/run/secrets/cloudtaser.io/serviceaccount'
/** Only when OpenBao's CA comes from a ConfigMap (annotation or operator default). */
export const CA_VOLUME = 'cloudtaser-vault-ca'
export const CA_DIR = '/var/run/secrets/cloudtaser.io/vault-ca'
/** Beacon mode: the cluster CA's PEM on the Pod, where a downwardAPI volume turns it into the wrapper's CA file. */
export const BROKER_CA_ANNOTATION = 'cloudtaser.io/broker-ca'
/**
 * The audience of the token a wrapper logs in with through the broker: OpenBao's jwt roles bind
 * it (apply-plan), because a cluster's default audience differs between providers.
 */
export {BROKER_TOKEN_AUDIENCE}

/** The environment the wrapper reads. Every name starts with CLOUDTASER_, which it strips before exec. */
export const WrapperEnv = {
  originalCmd: 'CLOUDTASER_ORIGINAL_CMD',
  vaultAddr: 'CLOUDTASER_VAULT_ADDR',
  authMethod: 'CLOUDTASER_VAULT_AUTH_METHOD',
  authPath: 'CLOUDTASER_VAULT_AUTH_PATH',
  role: 'CLOUDTASER_VAULT_ROLE',
  token: 'CLOUDTASER_VAULT_TOKEN',
  caCert: 'CLOUDTASER_VAULT_CACERT',
  secretPaths: 'CLOUDTASER_SECRET_PATHS',
  envMap: 'CLOUDTASER_ENV_MAP',
  onChange: 'CLOUDTASER_ON_SECRET_CHANGE',
  tokenFile: 'CLOUDTASER_SA_TOKEN_FILE',
  startDeadline: 'CLOUDTASER_START_DEADLINE',
  pollInterval: 'CLOUDTASER_POLL_INTERVAL',
  fileMap: 'CLOUDTASER_FILE_MAP',
  base64Fields: 'CLOUDTASER_BASE64_FIELDS',
  ebpf: 'CLOUDTASER_EBPF',
  ebpfFail: 'CLOUDTASER_EBPF_FAIL',
} as const

/**
 * Where the wrapper looks for the eBPF agent's socket, inside the container; also the node
 * directory the agent uses unless the operator is told another (the chart's ebpf.socketDir).
 */
export const EBPF_VOLUME = 'cloudtaser-ebpf'
export const EBPF_SOCKET_DIR = '/run/cloudtaser'

/** One memory-backed emptyDir per file-map entry, where the wrapper writes that Secret's files. */
export const FILES_VOLUME_PREFIX = 'cloudtaser-files-'

/** The mount paths of a file-map annotation, or why it is not one (the wrapper checks the rest). */
export function fileMapMounts(value: string): string[] | {error: string} {
  let parsed: unknown
  try {
    parsed = JSON.parse(value)
  } catch {
    return {error: 'is not JSON'}
  }
  if (!Array.isArray(parsed)) return {error: 'must be a JSON array'}
  const mounts = parsed.map((e: {mountPath?: unknown}) => e?.mountPath)
  if (!mounts.every((m): m is string => typeof m === 'string' && m.startsWith('/'))) return {error: 'every entry needs an absolute mountPath'}
  if (new Set(mounts).size !== mounts.length) return {error: 'a mountPath appears twice'}
  return mounts
}

export interface MutationSettings {
  /** Image holding the wrapper executable at `wrapperSource`. */
  wrapperImage: string
  /** Path of the wrapper executable inside wrapperImage. */
  wrapperSource: string
  /** Used when the Pod has no vault-address annotation. */
  defaultVaultAddress?: string
  /** Used when the Pod has no vault-ca-configmap annotation: `name` or `name/key`. */
  defaultVaultCaConfigMap?: string
  /**
   * Beacon mode: Pods without their own vault-address and CA use the broker, verified with the
   * cluster CA the broker published in `configMap` (operator namespace); `pem` is the copy read
   * last, undefined until the broker has bootstrapped.
   */
  brokerCa?: {configMap: string; pem?: string}
  /** The node directory holding the eBPF agent's socket (default EBPF_SOCKET_DIR); always mounted at EBPF_SOCKET_DIR. */
  ebpfSocketDir?: string
  /** The cloudtaser image, run as the S3 proxy sidecar of Pods with cloudtaser.io/s3-proxy: "true"; without it they are denied. */
  s3ProxyImage?: string
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const CONFIGMAP_KEY = /^[-._a-zA-Z0-9]+$/

/** `name` or `name/key` -> the ConfigMap reference, or why it cannot be one. */
export function parseCaConfigMap(value: string): {name: string; key: string} | {error: string} {
  const [name = '', key = 'ca.crt', ...rest] = value.split('/')
  if (rest.length > 0 || !DNS_SUBDOMAIN.test(name) || name.length > 253) return {error: `"${value}" is not a ConfigMap name or name/key`}
  if (!CONFIGMAP_KEY.test(key) || key === '.' || key === '..') return {error: `"${key}" is not a valid ConfigMap key`}
  return {name, key}
}

export const DEFAULT_WRAPPER_SOURCE = '/cloudtaser-wrapper'

export type JsonPatchOp = {op: 'add' | 'replace'; path: string; value: unknown} | {op: 'remove'; path: string}

export type MutationResult =
  | {allowed: true; patch: JsonPatchOp[]; reason: 'mutated' | 'already-mutated' | 'not-selected' | 'nothing-to-inject'; warnings?: string[]}
  | {allowed: false; message: string}

const annotationToEnv: [string, string][] = [
  [Annotations.vaultAuthMethod, WrapperEnv.authMethod],
  [Annotations.vaultAuthPath, WrapperEnv.authPath],
  [Annotations.vaultRole, WrapperEnv.role],
  [Annotations.secretPaths, WrapperEnv.secretPaths],
  [Annotations.envMap, WrapperEnv.envMap],
  [Annotations.onChange, WrapperEnv.onChange],
  [Annotations.startDeadline, WrapperEnv.startDeadline],
  [Annotations.pollInterval, WrapperEnv.pollInterval],
  [Annotations.fileMap, WrapperEnv.fileMap],
  [Annotations.base64Fields, WrapperEnv.base64Fields],
  [Annotations.ebpf, WrapperEnv.ebpf],
  [Annotations.ebpfFail, WrapperEnv.ebpfFail],
]

/** What an image runs when the container sets no command (from the registry, or recorded by discover). */
export interface ResolvedEntrypoint {
  entrypoint: string[]
  cmd: string[]
}

/** Init containers the Pod asks to have wrapped (`cloudtaser.io/init-containers`, written by protect). */
export const wrappedInitNames = (pod: V1Pod): Set<string> =>
  new Set(
    (pod.metadata?.annotations?.[Annotations.initContainers] ?? '')
      .split(',')
      .map((n) => n.trim())
      .filter(Boolean),
  )

/** The containers the wrapper starts in: every app container and the init containers named by the annotation. */
const wrappedContainers = (pod: V1Pod): V1Container[] => {
  const init = wrappedInitNames(pod)
  return [...(pod.spec?.initContainers ?? []).filter((c) => init.has(c.name)), ...(pod.spec?.containers ?? [])]
}

/** Containers whose original command must come from the image (selected, not yet wrapped pods only). */
export const containersNeedingEntrypoint = (pod: V1Pod): V1Container[] => {
  if (!isSelected(pod) || isMutated(pod) || !pod.metadata?.annotations?.[Annotations.secretPaths]) return []
  const recorded = recordedEntrypoints(pod)
  return wrappedContainers(pod).filter((c) => (!c.command || c.command.length === 0) && !recorded[c.name])
}

/** Entrypoints recorded in `cloudtaser.io/entrypoint.<container>` annotations; malformed ones are ignored (the registry decides). */
export function recordedEntrypoints(pod: V1Pod): Record<string, ResolvedEntrypoint> {
  const out: Record<string, ResolvedEntrypoint> = {}
  for (const [k, v] of Object.entries(pod.metadata?.annotations ?? {})) {
    if (!k.startsWith(Annotations.entrypointPrefix)) continue
    try {
      const e = JSON.parse(v) as {entrypoint?: unknown; cmd?: unknown}
      const strings = (a: unknown): a is string[] => Array.isArray(a) && a.every((x) => typeof x === 'string')
      const entrypoint = e.entrypoint ?? []
      const cmd = e.cmd ?? []
      if (strings(entrypoint) && strings(cmd) && entrypoint.length + cmd.length > 0) out[k.slice(Annotations.entrypointPrefix.length)] = {entrypoint, cmd}
    } catch {
      // not JSON: ignored
    }
  }
  return out
}

const isSelected = (pod: V1Pod): boolean => pod.metadata?.annotations?.[Annotations.inject] === 'true' || pod.metadata?.labels?.[Annotations.inject] === 'true'

/**
 * `resolved` holds the image entrypoint of each container without a command, by container name;
 * a command-less container missing from it is denied with `unresolved[name]` as the reason.
 */
export function mutatePod(pod: V1Pod, settings: MutationSettings, resolved: Record<string, ResolvedEntrypoint> = {}, unresolved: Record<string, string> = {}): MutationResult {
  const annotations = pod.metadata?.annotations ?? {}
  if (!isSelected(pod)) {
    return {allowed: true, patch: [], reason: 'not-selected'}
  }
  if (isMutated(pod)) return {allowed: true, patch: [], reason: 'already-mutated'}
  const spec = pod.spec
  if (!spec) return {allowed: false, message: 'cloudtaser: the Pod has no spec'}

  const vaultAddress = annotations[Annotations.vaultAddress] ?? settings.defaultVaultAddress
  if (!vaultAddress) {
    return {allowed: false, message: `cloudtaser: the Pod is marked for injection but has no ${Annotations.vaultAddress} annotation and the operator has no default address`}
  }
  // A Pod that expects a proxy must not start without one: every problem with it is a denial.
  const s3 = s3ProxyRequest(annotations)
  if (s3 && 'error' in s3) return {allowed: false, message: `cloudtaser: ${s3.error}`}
  if (s3) {
    const why = s3ProxyProblem(pod, settings)
    if (why) return {allowed: false, message: `cloudtaser: ${Annotations.s3Proxy}: ${why}`}
  }
  // Nothing to fetch: the Pod runs as it is. Denying would turn a workload that protect (or a
  // person) marked with nothing deliverable into Pods that can never be created.
  if (!annotations[Annotations.secretPaths]?.trim() && !annotations[Annotations.fileMap]?.trim()) {
    if (s3)
      return {allowed: false, message: `cloudtaser: ${Annotations.s3Proxy}: the app signs its S3 requests with access_key_id and secret_access_key of ${s3.credentials}, so it must get them from OpenBao too: name that path in ${Annotations.secretPaths} (with an ${Annotations.envMap} group such as access_key_id=AWS_ACCESS_KEY_ID,secret_access_key=AWS_SECRET_ACCESS_KEY)`}
    return {allowed: true, patch: [], reason: 'nothing-to-inject', warnings: [`cloudtaser: the Pod is marked for injection but neither ${Annotations.secretPaths} nor ${Annotations.fileMap} names a secret; it starts without the wrapper`]}
  }
  const fileMounts = annotations[Annotations.fileMap] ? fileMapMounts(annotations[Annotations.fileMap]!) : []
  if ('error' in fileMounts) return {allowed: false, message: `cloudtaser: ${Annotations.fileMap} ${fileMounts.error}`}
  const taken = wrappedContainers(pod).flatMap((c) => (c.volumeMounts ?? []).filter((m) => fileMounts.includes(m.mountPath)).map((m) => `${c.name}:${m.mountPath}`))
  if (taken.length > 0) {
    return {allowed: false, message: `cloudtaser: ${Annotations.fileMap} delivers files at ${taken.join(', ')}, where the container already mounts a volume; remove that volume (target protect does)`}
  }
  const filesMounts: V1VolumeMount[] = fileMounts.map((mountPath, i) => ({name: `${FILES_VOLUME_PREFIX}${i}`, mountPath}))
  // The wrapper registers with the node's agent over its socket (docs/ebpf.md); connecting needs no write access.
  const ebpf = annotations[Annotations.ebpf]?.trim().toLowerCase() === 'true'
  if (ebpf) filesMounts.push({name: EBPF_VOLUME, mountPath: EBPF_SOCKET_DIR, readOnly: true})
  // Through the broker: no address of its own, or the broker's (a plan written for beacon mode names it).
  const viaBroker = !annotations[Annotations.vaultAddress] || annotations[Annotations.vaultAddress] === settings.defaultVaultAddress
  const brokerCa = settings.brokerCa && viaBroker && !annotations[Annotations.vaultCaConfigMap] ? settings.brokerCa : undefined
  if (brokerCa && !brokerCa.pem)
    return {allowed: false, message: `cloudtaser: the broker has not bootstrapped through the beacon yet (no cluster CA in ConfigMap ${brokerCa.configMap}), so this Pod could not reach OpenBao; the controller retries. Check \`kubectl logs deploy/cloudtaser-broker\` and that the cluster is registered (\`cloudtaser source register\`)`}
  const caSource = brokerCa ? undefined : annotations[Annotations.vaultCaConfigMap] || settings.defaultVaultCaConfigMap
  const ca = caSource ? parseCaConfigMap(caSource) : undefined
  if (ca && 'error' in ca) return {allowed: false, message: `cloudtaser: ${Annotations.vaultCaConfigMap}: ${ca.error}`}
  resolved = {...resolved, ...recordedEntrypoints(pod)}
  const wrapped = wrappedContainers(pod)
  const noCommand = wrapped.filter((c) => (!c.command || c.command.length === 0) && !resolved[c.name]).map((c) => c.name)
  if (noCommand.length > 0) {
    const why = noCommand.map((n) => unresolved[n]).filter(Boolean)
    return {
      allowed: false,
      message:
        `cloudtaser: container${noCommand.length > 1 ? 's' : ''} ${noCommand.map((n) => `"${n}"`).join(', ')} ha${noCommand.length > 1 ? 've' : 's'} no command ` +
        `and the image entrypoint is unknown${why.length ? ` (${why.join('; ')})` : ''}; the wrapper must start the original program. ` +
        'Set command (and args) on the container in the pod template to what the image runs, or make the image readable by the operator.',
    }
  }

  const settingsEnv: V1EnvVar[] = [{name: WrapperEnv.vaultAddr, value: vaultAddress}]
  for (const [annotation, env] of annotationToEnv) {
    const v = annotations[annotation]
    if (v !== undefined && v !== '') settingsEnv.push({name: env, value: v})
  }

  // automountServiceAccountToken: false leaves the wrapper without a JWT for kubernetes auth:
  // mount a projected, kubelet-rotated token of the same ServiceAccount at our own path instead.
  // Through the broker the token is always our own, with the audience OpenBao's jwt role binds.
  const needsToken = (spec.automountServiceAccountToken === false || brokerCa !== undefined) && annotations[Annotations.vaultAuthMethod] !== 'token'
  if (needsToken) settingsEnv.push({name: WrapperEnv.tokenFile, value: `${TOKEN_DIR}/token`})
  const extraMounts: V1VolumeMount[] = needsToken ? [{name: TOKEN_VOLUME, mountPath: TOKEN_DIR, readOnly: true}] : []
  // Not optional: without its CA the wrapper could not verify OpenBao, so the kubelet holds the
  // Pod (event: configmap not found) instead of starting an app that would fail anyway.
  if (ca || brokerCa) {
    settingsEnv.push({name: WrapperEnv.caCert, value: `${CA_DIR}/ca.crt`})
    extraMounts.push({name: CA_VOLUME, mountPath: CA_DIR, readOnly: true})
  }

  const wrap = (c: V1Container, runsOnce: boolean): V1Container => {
    // Kubernetes semantics: no command -> ENTRYPOINT, then args if set, else CMD.
    const image = c.command && c.command.length > 0 ? undefined : resolved[c.name]
    const original = image ? [...image.entrypoint, ...(c.args ?? image.cmd)] : [...(c.command ?? []), ...(c.args ?? [])]
    const {args: _args, ...rest} = c
    // Settings travel as annotations only: a CLOUDTASER_* env of the Pod's own (a stale one, or a
    // token, which would be a secret in etcd) never reaches the wrapper.
    const env = (c.env ?? []).filter((e) => !e.name.startsWith('CLOUDTASER_'))
    // A run-to-completion init container is never restarted half-way on a secret change.
    const own = runsOnce ? [...settingsEnv.filter((e) => e.name !== WrapperEnv.onChange), {name: WrapperEnv.onChange, value: 'none'}] : settingsEnv
    return {
      ...rest,
      command: [WRAPPER_PATH],
      // Every `$` doubled: the kubelet's expansion pass then hands the wrapper the original text,
      // and the wrapper expands it with the secrets (the kubelet no longer sees those variables).
      env: [...env, {name: WrapperEnv.originalCmd, value: JSON.stringify(original).replaceAll('$', '$$$$')}, ...own],
      volumeMounts: [...(c.volumeMounts ?? []), {name: WRAPPER_VOLUME, mountPath: WRAPPER_DIR, readOnly: true}, ...extraMounts, ...filesMounts],
    }
  }
  const initNames = wrappedInitNames(pod)
  const containers = spec.containers.map((c) => wrap(c, false))
  const initContainers = (spec.initContainers ?? []).map((c) => (initNames.has(c.name) ? wrap(c, c.restartPolicy !== 'Always') : c))
  // The proxy starts under the wrapper like an app, with its own secret (the S3 credentials) and the
  // default on-secret-change (restart: it does not reload on SIGHUP). BAO_ADDR and BAO_CACERT are
  // for its own Transit login; the wrapper passes them through, they hold no secret.
  const sidecars = s3
    ? [
        s3ProxyContainer({
          image: settings.s3ProxyImage!,
          command: [WRAPPER_PATH],
          env: [
            {name: 'BAO_ADDR', value: vaultAddress},
            ...(ca || brokerCa ? [{name: 'BAO_CACERT', value: `${CA_DIR}/ca.crt`}] : []),
            {name: WrapperEnv.originalCmd, value: JSON.stringify(s3ProxyCommand(s3, {role: annotations[Annotations.vaultRole]!, authMount: authMount(annotations[Annotations.vaultAuthPath]), tokenFile: needsToken ? `${TOKEN_DIR}/token` : undefined})).replaceAll('$', '$$$$')},
            ...settingsEnv.filter((e) => !S3_PROXY_DROPPED_ENV.has(e.name)),
            {name: WrapperEnv.secretPaths, value: s3.credentials},
            {name: WrapperEnv.envMap, value: S3_PROXY_ENV_MAP},
          ],
          volumeMounts: [{name: WRAPPER_VOLUME, mountPath: WRAPPER_DIR, readOnly: true}, ...extraMounts, ...(ebpf ? [{name: EBPF_VOLUME, mountPath: EBPF_SOCKET_DIR, readOnly: true}] : [])],
        }),
      ]
    : []
  const init: V1Container = {
    name: INIT_CONTAINER,
    image: settings.wrapperImage,
    // The wrapper copies itself (to WRAPPER_PATH): the image needs no shell or cp, so it can be FROM scratch.
    command: [settings.wrapperSource, 'install', WRAPPER_DIR],
    volumeMounts: [{name: WRAPPER_VOLUME, mountPath: WRAPPER_DIR}],
    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: ['ALL']}},
  }

  // `add` on an existing member replaces it (RFC 6902 4.1), so whole lists are written at once:
  // simpler to review than index arithmetic, and the apiserver applies it atomically anyway.
  const patch: JsonPatchOp[] = [
    {
      op: 'add',
      path: '/spec/volumes',
      value: [
        ...(spec.volumes ?? []),
        {name: WRAPPER_VOLUME, emptyDir: {medium: 'Memory', sizeLimit: '64Mi'}},
        ...(needsToken ? [{name: TOKEN_VOLUME, projected: {sources: [{serviceAccountToken: {path: 'token', expirationSeconds: 3600, ...(brokerCa ? {audience: BROKER_TOKEN_AUDIENCE} : {})}}]}}] : []),
        ...(ca ? [{name: CA_VOLUME, configMap: {name: ca.name, items: [{key: ca.key, path: 'ca.crt'}]}}] : []),
        ...(brokerCa ? [{name: CA_VOLUME, downwardAPI: {items: [{path: 'ca.crt', fieldRef: {fieldPath: `metadata.annotations['${BROKER_CA_ANNOTATION}']`}}]}}] : []),
        // Node RAM only, never disk or etcd; room for two generations during a rotation swap.
        ...fileMounts.map((_, i) => ({name: `${FILES_VOLUME_PREFIX}${i}`, emptyDir: {medium: 'Memory', sizeLimit: '4Mi'}})),
        // DirectoryOrCreate: without an agent the wrapper then finds no socket and fails closed (or starts, fail-open).
        ...(ebpf ? [{name: EBPF_VOLUME, hostPath: {path: settings.ebpfSocketDir ?? EBPF_SOCKET_DIR, type: 'DirectoryOrCreate'}}] : []),
      ],
    },
    // First, so the wrapper is in place before any other init container could need it.
    // The proxy right after it: as a native sidecar with a startup probe, everything after it
    // (other init containers, the app) starts once the proxy answers.
    {op: 'add', path: '/spec/initContainers', value: [init, ...sidecars, ...initContainers]},
    {op: 'add', path: '/spec/containers', value: containers},
  ]
  // Fail-closed kernel protection can only start where the node's agent enforces: schedule it
  // there (the scheduler's FailedScheduling event says so when no such node exists).
  const failOpen = annotations[Annotations.ebpfFail]?.trim().toLowerCase() === 'open'
  if (ebpf && !failOpen) patch.push({op: 'add', path: '/spec/affinity', value: requireEnforcingNode(spec.affinity)})
  if (brokerCa) patch.push({op: 'add', path: '/metadata/annotations', value: {...annotations, [BROKER_CA_ANNOTATION]: brokerCa.pem}})
  return {allowed: true, patch, reason: 'mutated'}
}

/** The app's secrets and how they are delivered are not the proxy's. */
const S3_PROXY_DROPPED_ENV = new Set<string>([WrapperEnv.secretPaths, WrapperEnv.envMap, WrapperEnv.fileMap, WrapperEnv.base64Fields, WrapperEnv.onChange])

/** The auth mount as the proxy's --bao-auth-mount wants it: the wrapper's reading of vault-auth-path. */
const authMount = (path: string | undefined): string =>
  (path || 'kubernetes')
    .replace(/^\//, '')
    .replace(/^auth\//, '')
    .replace(/\/+$/, '')

/** Why this Pod cannot have the proxy (beyond its own annotations), or undefined. */
function s3ProxyProblem(pod: V1Pod, settings: MutationSettings): string | undefined {
  const annotations = pod.metadata?.annotations ?? {}
  if (!settings.s3ProxyImage) return 'this operator runs without --s3-proxy-image, so it cannot add the proxy'
  if (annotations[Annotations.vaultAuthMethod] === 'token') return `the proxy logs in to OpenBao with the Pod's ServiceAccount token; ${Annotations.vaultAuthMethod}: token is not supported`
  if (!annotations[Annotations.vaultRole]?.trim()) return `the proxy logs in to OpenBao as ${Annotations.vaultRole}, which the Pod does not set`
  const taken = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].flatMap((c) =>
    (c.ports ?? []).filter((p) => p.containerPort === S3_PROXY_PORT || p.containerPort === S3_PROXY_OPS_PORT).map((p) => `${c.name}:${p.containerPort}`),
  )
  if (taken.length > 0) return `the proxy listens on ${S3_PROXY_PORT} and ${S3_PROXY_OPS_PORT}, which ${taken.join(', ')} already use${taken.length > 1 ? '' : 's'}`
  return undefined
}

/** The Pod's affinity with "the node enforces" ANDed into every required node selector term. */
export function requireEnforcingNode(affinity: V1Affinity | undefined): V1Affinity {
  const expression = {key: NODE_KERNEL_LABEL, operator: 'In', values: ['enforce']}
  const required = affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution
  const terms = required?.nodeSelectorTerms?.length ? required.nodeSelectorTerms : [{}]
  return {
    ...affinity,
    nodeAffinity: {
      ...affinity?.nodeAffinity,
      requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: terms.map((t) => ({...t, matchExpressions: [...(t.matchExpressions ?? []), expression]}))},
    },
  }
}

/** Whether requireEnforcingNode constrains this Pod: every required term then names enforcing nodes. */
export function requiresEnforcingNode(affinity: V1Affinity | undefined): boolean {
  const terms = affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? []
  return terms.length > 0 && terms.every((t) => (t.matchExpressions ?? []).some((e) => e.key === NODE_KERNEL_LABEL && e.operator === 'In' && e.values?.length === 1 && e.values[0] === 'enforce'))
}

/** RFC 6902 applied to a plain object: for tests and for the operator's dry-run output. */
export function applyPatch<T>(doc: T, patch: JsonPatchOp[]): T {
  const out = structuredClone(doc) as Record<string, unknown>
  for (const op of patch) {
    const keys = op.path.split('/').slice(1).map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'))
    const last = keys.pop()!
    let cur = out as Record<string, unknown>
    for (const k of keys) cur = cur[k] as Record<string, unknown>
    if (op.op === 'remove') delete cur[last]
    else cur[last] = structuredClone(op.value)
  }
  return out as T
}
