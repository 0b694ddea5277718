/**
 * The pod-template annotations that connect `target protect` (writer) to the webhook and the
 * wrapper (readers). Keys and the env-map syntax are compatible with the original product;
 * `vault-auth-path` and the `*=PREFIX` env-map entry are our extensions.
 */
export const ANNOTATION_PREFIX = 'cloudtaser.io/'

export const Annotations = {
  inject: 'cloudtaser.io/inject',
  ebpf: 'cloudtaser.io/ebpf',
  /** closed (default): the app does not start without kernel enforcement; open: start and report. */
  ebpfFail: 'cloudtaser.io/ebpf-fail',
  vaultAddress: 'cloudtaser.io/vault-address',
  vaultAuthMethod: 'cloudtaser.io/vault-auth-method',
  vaultAuthPath: 'cloudtaser.io/vault-auth-path',
  vaultRole: 'cloudtaser.io/vault-role',
  secretPaths: 'cloudtaser.io/secret-paths',
  envMap: 'cloudtaser.io/env-map',
  /**
   * JSON list of Secrets delivered as files: `[{path, mountPath, items?: [{field, file?, mode?}],
   * defaultMode?, uid?, gid?}]` (KV v2 API path; modes decimal as in Kubernetes JSON). The webhook
   * mounts a memory-backed emptyDir at each mountPath; the wrapper writes the files (docs/wrapper.md).
   */
  fileMap: 'cloudtaser.io/file-map',
  /**
   * `name` or `name/key` (default key `ca.crt`): a ConfigMap in the Pod's namespace holding the PEM
   * of the CA that signed OpenBao's certificate. A CA is public, so a ConfigMap is the right home.
   */
  vaultCaConfigMap: 'cloudtaser.io/vault-ca-configmap',
  /**
   * Comma-separated init containers the webhook wraps (those whose Secret references protect
   * moved to the wrapper); app containers are always wrapped.
   */
  initContainers: 'cloudtaser.io/init-containers',
  /**
   * JSON `{"<KV path>": ["field", ...]}`: fields `target migrate` stored base64-encoded because the
   * Secret's value was not UTF-8 text (the plan's base64Fields). The wrapper decodes them back.
   */
  base64Fields: 'cloudtaser.io/base64-fields',
  /** restart (default) or sighup: what the wrapper does when a secret's KV version changes. */
  onChange: 'cloudtaser.io/on-secret-change',
  /** How long the wrapper waits for OpenBao at start before it gives up (duration, default 60s). */
  startDeadline: 'cloudtaser.io/start-deadline',
  /** How often the wrapper looks for a new KV version (duration, default 30s). */
  pollInterval: 'cloudtaser.io/poll-interval',
  /**
   * Prefix; `cloudtaser.io/entrypoint.<container>` = JSON {entrypoint, cmd, digest} recorded ahead
   * of time (e.g. by discover) so admission needs no registry lookup for that container.
   */
  entrypointPrefix: 'cloudtaser.io/entrypoint.',
  /**
   * "true": the webhook adds the S3 proxy (docs/s3-proxy.md, "Sidecar injection") as a native
   * sidecar, started under the wrapper; the settings below say where and with which key.
   */
  s3Proxy: 'cloudtaser.io/s3-proxy',
  /** The S3 endpoint objects are stored at (http(s) URL, path-style). Required with s3-proxy. */
  s3ProxyUpstream: 'cloudtaser.io/s3-proxy-upstream',
  /** The region upstream requests are signed for (default us-east-1). */
  s3ProxyRegion: 'cloudtaser.io/s3-proxy-region',
  /** The Transit key that wraps the data keys. Required with s3-proxy. */
  s3ProxyTransitKey: 'cloudtaser.io/s3-proxy-transit-key',
  /** Mount of the Transit engine (default transit). */
  s3ProxyTransitMount: 'cloudtaser.io/s3-proxy-transit-mount',
  /**
   * KV v2 API path of the proxy's credentials (fields access_key_id, secret_access_key: what the
   * app signs with; upstream_access_key_id, upstream_secret_access_key: the proxy's own). Required.
   */
  s3ProxyCredentials: 'cloudtaser.io/s3-proxy-credentials',
  /** "true": refuse to read objects stored without encryption (--require-encrypted). */
  s3ProxyRequireEncrypted: 'cloudtaser.io/s3-proxy-require-encrypted',
} as const

/**
 * The label each node's eBPF agent sets to what its kernel allows: `enforce`, `detect` or
 * `degraded`. discover reads it for kernelProtection's default; the webhook schedules Pods that
 * require enforcement onto `enforce` nodes.
 */
export const NODE_KERNEL_LABEL = 'cloudtaser.io/kernel-protection'

/** The webhook is registered under this name (what an injected Pod looks like: lib/wrapped-pod.ts). */
export const WEBHOOK_CONFIG_NAME = 'cloudtaser-inject'

/** Pods carry this label too: the webhook's objectSelector matches labels, not annotations. */
export const INJECT_LABEL = 'cloudtaser.io/inject'

/** One secret path's mapping: field -> env names, or every field with a prefix (envFrom). */
export interface EnvMapGroup {
  /** A field read under several names (two env entries with the same secretKeyRef) lists each. */
  fields: Record<string, string[]>
  /** Set when every field of the secret is delivered, each as PREFIX + field. */
  allWithPrefix?: string
}

/**
 * `field=ENV,field=ENV;field=ENV` — groups separated by `;` follow the order of secret-paths.
 * A field may appear more than once (`password=DB_PASSWORD,password=PGPASSWORD`): each name is set.
 * `*=PREFIX` in a group delivers every field of that secret as PREFIX+field (an empty prefix
 * is written `*=`). Names are written as they are: see envMapNameProblem for what cannot be.
 */
export function formatEnvMap(groups: EnvMapGroup[]): string {
  return groups
    .map((g) => {
      const entries = Object.keys(g.fields)
        .sort((a, b) => a.localeCompare(b))
        .flatMap((field) => g.fields[field]!.map((env) => `${field}=${env}`))
      if (g.allWithPrefix !== undefined) entries.push(`*=${g.allWithPrefix}`)
      return entries.join(',')
    })
    .join(';')
}

/**
 * Why a variable name (or envFrom prefix) cannot travel in the env-map, or undefined. Kubernetes
 * 1.34 accepts any printable ASCII but `=` in a name; the env-map separates entries with `,` and
 * groups with `;`, and trims spaces around entries, so names holding those cannot be written.
 */
export function envMapNameProblem(name: string): string | undefined {
  if (/[,;]/.test(name)) return `the name ${JSON.stringify(name)} contains "," or ";", which separate entries in the cloudtaser.io/env-map annotation`
  if (name !== name.trim()) return `the name ${JSON.stringify(name)} starts or ends with a space, which the cloudtaser.io/env-map annotation does not keep`
  return undefined
}

export function parseEnvMap(text: string): EnvMapGroup[] {
  if (text.trim() === '') return []
  return text.split(';').map((group) => {
    const g: EnvMapGroup = {fields: {}}
    for (const entry of group.split(',')) {
      const e = entry.trim()
      if (e === '') continue
      const eq = e.indexOf('=')
      if (eq <= 0) throw new Error(`env-map entry "${e}" is not field=ENV`)
      const field = e.slice(0, eq).trim()
      const env = e.slice(eq + 1).trim()
      if (field === '*') g.allWithPrefix = env
      else if (env === '') throw new Error(`env-map entry "${e}" has no variable name`)
      else (g.fields[field] ??= []).push(env)
    }
    return g
  })
}

export const formatSecretPaths = (paths: string[]): string => paths.join(',')
export const parseSecretPaths = (text: string): string[] =>
  text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')
