/* eslint-disable */
// DO NOT EDIT. Generated from schema/plan.v1.json by `npm run gen:types`.
// CI fails when this file differs from what the schema generates.
/**
 * The kind of workload controller. Deployments, StatefulSets, DaemonSets and CronJobs are protected by patching their pod template.
 *
 * This interface was referenced by `MigrationPlan`'s JSON-Schema
 * via the `definition` "WorkloadKind".
 */
export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet' | 'CronJob'
/**
 * An environment variable name as the application reads it. Any name Kubernetes 1.34 accepts: printable ASCII except `=` (relaxed environment variable validation).
 *
 * This interface was referenced by `MigrationPlan`'s JSON-Schema
 * via the `definition` "EnvName".
 */
export type EnvName = string
/**
 * A key (field) of a Kubernetes Secret, and the field of the same name in the OpenBao KV v2 secret.
 *
 * This interface was referenced by `MigrationPlan`'s JSON-Schema
 * via the `definition` "SecretKey".
 */
export type SecretKey = string
/**
 * Where this workload stands in the migration. Written back by `target protect` after each workload; the archived plan is the audit record.
 *
 * This interface was referenced by `MigrationPlan`'s JSON-Schema
 * via the `definition` "WorkloadStatus".
 */
export type WorkloadStatus = {
  /**
   * `pending` (not yet done), `migrated` (annotated and rolled), `skipped` (a person chose not to), `failed` (tried and did not succeed; see reason).
   */
  state: 'pending' | 'migrated' | 'skipped' | 'failed'
  /**
   * When the state was last set.
   */
  at?: string
  /**
   * Who set it.
   */
  by?: string
  /**
   * Why: the error for `failed`, the operator's words for `skipped`.
   */
  reason?: string
  /**
   * The workload's generation after protect patched it.
   */
  revision?: number
}
/**
 * A Kubernetes label or annotation key: an optional DNS-subdomain prefix and `/`, then a name.
 *
 * This interface was referenced by `MigrationPlan`'s JSON-Schema
 * via the `definition` "QualifiedName".
 */
export type QualifiedName = string
/**
 * A Kubernetes object name (RFC 1123 subdomain).
 *
 * This interface was referenced by `MigrationPlan`'s JSON-Schema
 * via the `definition` "DnsSubdomain".
 */
export type DnsSubdomain = string
/**
 * A Kubernetes name (RFC 1123 label).
 *
 * This interface was referenced by `MigrationPlan`'s JSON-Schema
 * via the `definition` "DnsLabel".
 */
export type DnsLabel = string
/**
 * An instant in RFC 3339 / ISO 8601 form, UTC.
 *
 * This interface was referenced by `MigrationPlan`'s JSON-Schema
 * via the `definition` "Timestamp".
 */
export type Timestamp = string
/**
 * Text written by a person or a command for people to read. Checked for anything shaped like a secret (tokens, PEM blocks, long base64).
 *
 * This interface was referenced by `MigrationPlan`'s JSON-Schema
 * via the `definition` "FreeText".
 */
export type FreeText = string
/**
 * Who did something: a Git identity (`Name <email>`) inside a repository, otherwise the OS user (`user@host`).
 *
 * This interface was referenced by `MigrationPlan`'s JSON-Schema
 * via the `definition` "Actor".
 */
export type Actor = string

/**
 * A cloudtaser migration plan: which workloads of one Kubernetes cluster read which Kubernetes Secrets today, and where each value will live in OpenBao instead. It never holds a secret value, so it can be reviewed in Git and carried across an air gap. Written by `target discover`, read by `source apply-plan` and `source verify-plan`, updated by `target protect` with each workload's status.
 */
export interface MigrationPlan {
  /**
   * Version of this file format. Only `cloudtaser.io/v1` exists today; older files are migrated on load.
   */
  apiVersion: 'cloudtaser.io/v1'
  /**
   * Always `MigrationPlan`.
   */
  kind: 'MigrationPlan'
  metadata: Metadata
  openbao?: OpenBao
  /**
   * One tenant per Kubernetes namespace. Each tenant gets its own OpenBao policy and Kubernetes-auth role, so one namespace can never read another's secrets. May be empty.
   */
  tenants: Tenant[]
  /**
   * Workloads that read Secrets but that cloudtaser cannot protect (bare Pods, Jobs owned by nothing cloudtaser patches), listed so reviewers see them. Informational; no command acts on them.
   */
  notProtectable?: ObservedWorkload[]
  /**
   * Workloads that already use the Vault agent injector (vault.hashicorp.com annotations). Listed separately: migrating them needs a human decision.
   */
  vaultInjected?: ObservedWorkload[]
}
/**
 * Provenance of the plan: which cluster it describes, when, by whom and with which tool.
 *
 * This interface was referenced by `MigrationPlan`'s JSON-Schema
 * via the `definition` "Metadata".
 */
export interface Metadata {
  /**
   * A name for this plan, usually the cluster's name.
   */
  name: string
  /**
   * Free text for reviewers: purpose, ticket, approvals.
   */
  description?: string
  cluster?: Cluster
  /**
   * When discover wrote the plan.
   */
  createdAt?: string
  /**
   * Who ran discover.
   */
  createdBy?: string
  /**
   * When `discover --update` last refreshed the plan.
   */
  updatedAt?: string
  /**
   * The cloudtaser version that wrote the plan.
   */
  toolVersion?: string
  git?: GitProvenance
}
/**
 * The Kubernetes cluster this plan was discovered from. `target protect` refuses to run against a cluster with a different fingerprint.
 *
 * This interface was referenced by `MigrationPlan`'s JSON-Schema
 * via the `definition` "Cluster".
 */
export interface Cluster {
  /**
   * The cluster's name as the kubeconfig context calls it, or as given with --cluster-name. Used in OpenBao paths and policy names.
   */
  name: string
  /**
   * The UID of the cluster's kube-system namespace: stable for the cluster's life and different for every cluster.
   */
  fingerprint: string
  /**
   * The API server URL discover talked to. Informational.
   */
  server?: string
}
/**
 * The Git repository discover ran in, if any.
 *
 * This interface was referenced by `MigrationPlan`'s JSON-Schema
 * via the `definition` "GitProvenance".
 */
export interface GitProvenance {
  /**
   * The remote URL of the repository (credentials stripped).
   */
  repository?: string
  /**
   * The commit checked out when the plan was written.
   */
  commit?: string
  /**
   * The branch checked out, if any.
   */
  branch?: string
}
/**
 * Where the secrets will live and how workloads will authenticate. Defaults apply when omitted.
 *
 * This interface was referenced by `MigrationPlan`'s JSON-Schema
 * via the `definition` "OpenBao".
 */
export interface OpenBao {
  /**
   * The OpenBao (or broker) URL the wrapper in each pod talks to at runtime; written into the `cloudtaser.io/vault-address` annotation. Not needed by apply-plan, which takes its address from BAO_ADDR.
   */
  address?: string
  /**
   * The KV version 2 secrets engine mount that holds the values.
   */
  kvMount?: string
  /**
   * The mount path of the Kubernetes auth method for this cluster, without the `auth/` prefix.
   */
  authMount?: string
}
/**
 * One namespace, its OpenBao policy and role, and the workloads to migrate in it.
 *
 * This interface was referenced by `MigrationPlan`'s JSON-Schema
 * via the `definition` "Tenant".
 */
export interface Tenant {
  /**
   * The tenant's name; discover uses the namespace name.
   */
  name: string
  /**
   * The Kubernetes namespace.
   */
  namespace: string
  /**
   * The OpenBao ACL policy apply-plan creates for this tenant: read on exactly this tenant's secret paths.
   */
  policy?: string
  /**
   * The Kubernetes-auth role apply-plan creates for this tenant, bound to its namespace and service accounts.
   */
  role?: string
  /**
   * Reviewers' remarks on this tenant.
   */
  note?: string
  /**
   * The workloads of this namespace that read Kubernetes Secrets.
   */
  workloads: Workload[]
  /**
   * The Kubernetes Secrets of this namespace whose values `target migrate` copied into OpenBao, one entry per Secret: which fields were copied (names, never values), when, by whom, the KV version written, and what `target migrate rollback` needs to recreate the Secret (type, labels, annotations). Nothing here can give back a value.
   */
  secrets?: MigratedSecret[]
}
/**
 * A workload controller whose pods read Kubernetes Secrets, and the OpenBao secrets that will replace them.
 *
 * This interface was referenced by `MigrationPlan`'s JSON-Schema
 * via the `definition` "Workload".
 */
export interface Workload {
  kind: WorkloadKind
  /**
   * The workload's name in its namespace.
   */
  name: string
  /**
   * The ServiceAccount its pods run as; the tenant's role is bound to it.
   */
  serviceAccount?: string
  /**
   * Desired replicas when discovered. Informational.
   */
  replicas?: number
  /**
   * Whether this workload's Pods need the node's kernel to deny other processes access to their memory (the eBPF agent in enforce mode). `required`: the Pods are scheduled only on nodes whose agent enforces, and the wrapper refuses to start the app anywhere else; `preferred`: the wrapper registers with the agent where there is one and starts the app without kernel enforcement where there is not, saying so in its log (managed clusters whose kernels lack BPF LSM); `off`: no registration. discover fills it from what the cluster's agents report (`target check`); absent means `required`.
   */
  kernelProtection?: 'required' | 'preferred' | 'off'
  /**
   * The containers the wrapper will start in (names), in pod order. Init containers are listed with `init: true`.
   */
  containers?: ContainerRef[]
  /**
   * The Kubernetes Secrets this workload reads, each with its OpenBao destination.
   */
  secrets: SecretMapping[]
  s3Proxy?: S3Proxy
  /**
   * Set by `discover --update` when the workload no longer exists in the cluster. Kept for the record; protect skips it.
   */
  vanished?: boolean
  /**
   * Reviewers' remarks on this workload.
   */
  note?: string
  status: WorkloadStatus
}
/**
 * A container of the workload's pod template.
 *
 * This interface was referenced by `MigrationPlan`'s JSON-Schema
 * via the `definition` "ContainerRef".
 */
export interface ContainerRef {
  /**
   * The container's name.
   */
  name: string
  /**
   * True for an init container.
   */
  init?: boolean
  /**
   * The image reference as written in the pod template.
   */
  image?: string
  /**
   * Secret-backed variables this container's `command` or `args` read through Kubernetes' `$(NAME)` expansion. Once protected, the kubelet no longer sees these variables, so the wrapper performs the expansion with the same rules; listed so reviewers see which command lines carry secrets.
   */
  expands?: EnvName[]
}
/**
 * One Kubernetes Secret read by the workload, and the OpenBao KV v2 secret that replaces it.
 *
 * This interface was referenced by `MigrationPlan`'s JSON-Schema
 * via the `definition` "SecretMapping".
 */
export interface SecretMapping {
  source: SecretSource
  /**
   * The KV v2 mount holding this secret (defaults to the plan's `openbao.kvMount`).
   */
  kvMount?: string
  /**
   * The KV v2 API path of the secret, `<mount>/data/<path>`, as written into the `cloudtaser.io/secret-paths` annotation and granted by the tenant's policy.
   */
  vaultPath: string
  /**
   * Secret field -> environment variable name, as the workload reads them today; a list when the workload reads one field under several names (each is delivered). Becomes the `cloudtaser.io/env-map` annotation.
   */
  fields?: {
    [k: string]: EnvName | EnvName[]
  }
  /**
   * Set when the workload imports every key of the Secret as environment variables (`envFrom.secretRef`). The keys are not known without reading the Secret, so every field of the OpenBao secret is delivered, with this prefix.
   */
  envFrom?: {
    /**
     * Prefix prepended to each field name.
     */
    prefix?: string
  }
  /**
   * Where the workload mounts this Secret as files (secret volumes and projected volumes).
   */
  files?: FileMount[]
  /**
   * Every place in the pod template that refers to this Secret, exactly as found. `target protect` removes them and `target unprotect` puts them back.
   */
  references?: SecretReference[]
}
/**
 * The Kubernetes Secret as the workload refers to it today.
 *
 * This interface was referenced by `MigrationPlan`'s JSON-Schema
 * via the `definition` "SecretSource".
 */
export interface SecretSource {
  /**
   * The Secret's name in the tenant's namespace.
   */
  name: string
  /**
   * True when discover found no Secret of this name (checked through metadata only).
   */
  missing?: boolean
  /**
   * True when every reference to the Secret is marked optional, so the workload starts without it.
   */
  optional?: boolean
  /**
   * The Secret's type, from its metadata listing.
   */
  type?: string
}
/**
 * A Secret mounted as files into one container.
 *
 * This interface was referenced by `MigrationPlan`'s JSON-Schema
 * via the `definition` "FileMount".
 */
export interface FileMount {
  /**
   * The container that mounts the files.
   */
  container: string
  /**
   * True when that container is an init container.
   */
  init?: boolean
  /**
   * The pod volume's name.
   */
  volume?: string
  /**
   * The directory the files appear in.
   */
  mountPath: string
  /**
   * The mount's `readOnly`, as written (restored by unprotect).
   */
  readOnly?: boolean
  /**
   * Position of the mount in the container's `volumeMounts`, so unprotect restores the order.
   */
  mountIndex?: number
  /**
   * The Secret volume's `defaultMode` (decimal, as in Kubernetes JSON): the mode of every file without its own.
   */
  defaultMode?: number
  /**
   * Selected keys and their file names; absent means every key becomes a file named after it.
   *
   * Items: One key written to one file.
   */
  items?: {
    key: SecretKey
    /**
     * File path relative to the mount.
     */
    path: string
    /**
     * This file's mode (decimal), when the volume sets one.
     */
    mode?: number
  }[]
  /**
   * True when the wrapper delivers these files (protect replaces the Secret volume with files the wrapper writes into memory at the same path); false when the volume stays, with the reason in the reference's `remains`.
   */
  deliverable?: boolean
}
/**
 * One reference to the Secret in the pod template, recorded so it can be removed and restored exactly.
 *
 * This interface was referenced by `MigrationPlan`'s JSON-Schema
 * via the `definition` "SecretReference".
 */
export interface SecretReference {
  /**
   * The container holding the reference; for `volume` references the pod-level volume's first consumer is given.
   */
  container: string
  /**
   * True when the container is an init container.
   */
  init?: boolean
  /**
   * `env` (env[].valueFrom.secretKeyRef), `envFrom` (envFrom[].secretRef), `volume` (a secret volume) or `projected` (a projected volume source).
   */
  type: 'env' | 'envFrom' | 'volume' | 'projected'
  /**
   * An environment variable name as the application reads it. Any name Kubernetes 1.34 accepts: printable ASCII except `=` (relaxed environment variable validation).
   */
  env?: string
  /**
   * A key (field) of a Kubernetes Secret, and the field of the same name in the OpenBao KV v2 secret.
   */
  key?: string
  /**
   * For `envFrom`: the prefix, if any.
   */
  prefix?: string
  /**
   * The reference's `optional` flag as written.
   */
  optional?: boolean
  /**
   * For `volume` and `projected`: the pod volume's name.
   */
  volume?: string
  /**
   * Position of the entry in its list (env, envFrom, volumes, or projected sources) when discovered, so unprotect restores the original order.
   */
  index?: number
  /**
   * Set when `target protect` leaves this reference on the Kubernetes Secret, with the reason (for example a Secret read only as files while the wrapper cannot deliver files). The Secret must then stay in Kubernetes for this workload.
   */
  remains?: string
}
/**
 * Set by discover when the workload's pod template asks for the S3 proxy (`cloudtaser.io/s3-proxy: "true"` and its settings, docs/s3-proxy.md "Sidecar injection"): the webhook adds it as a sidecar that encrypts object bodies with the Transit key before they leave the Pod. Settings only: the credentials stay in OpenBao at `credentials`. Recorded for review; protect does not write these annotations.
 *
 * This interface was referenced by `MigrationPlan`'s JSON-Schema
 * via the `definition` "S3Proxy".
 */
export interface S3Proxy {
  /**
   * The S3 endpoint the ciphertext is stored at (`cloudtaser.io/s3-proxy-upstream`).
   */
  upstream: string
  /**
   * The region upstream requests are signed for (`cloudtaser.io/s3-proxy-region`).
   */
  region?: string
  /**
   * The OpenBao Transit key that wraps each object's data key (`cloudtaser.io/s3-proxy-transit-key`).
   */
  transitKey: string
  /**
   * The Transit engine's mount (`cloudtaser.io/s3-proxy-transit-mount`).
   */
  transitMount?: string
  /**
   * The KV v2 API path holding the proxy's S3 credentials (`cloudtaser.io/s3-proxy-credentials`; fields access_key_id, secret_access_key, upstream_access_key_id, upstream_secret_access_key).
   */
  credentials: string
  /**
   * True when the proxy refuses to read objects stored without encryption (`cloudtaser.io/s3-proxy-require-encrypted`).
   */
  requireEncrypted?: boolean
}
/**
 * One Kubernetes Secret whose values `target migrate` copied into OpenBao, and where its cutover stands.
 *
 * This interface was referenced by `MigrationPlan`'s JSON-Schema
 * via the `definition` "MigratedSecret".
 */
export interface MigratedSecret {
  /**
   * The Secret's name in the tenant's namespace.
   */
  name: string
  /**
   * The KV v2 API path its values were written to: the `vaultPath` every workload of the plan maps this Secret to.
   */
  vaultPath: string
  /**
   * `copied`: OpenBao holds the Secret's values (proven equal by digest) and the Secret still exists; `deleted`: `target migrate finalize` deleted the Kubernetes Secret; `restored`: `target migrate rollback` recreated it from OpenBao.
   */
  state: 'copied' | 'deleted' | 'restored'
  /**
   * The Secret's type when copied; rollback recreates it with this type.
   */
  type?: string
  /**
   * The Secret's `immutable` flag when copied, restored by rollback.
   */
  immutable?: boolean
  /**
   * The Secret's labels when copied, restored by rollback.
   */
  labels?: {
    [k: string]: string
  }
  /**
   * The Secret's annotations when copied, restored by rollback; without `kubectl.kubernetes.io/last-applied-configuration` (it holds the values) and without any value shaped like a secret (see `omittedAnnotations`).
   */
  annotations?: {
    [k: string]: string
  }
  /**
   * Annotations of the Secret left out because their value holds or could betray a value (last-applied-configuration; tokens, keys, long base64 or hex such as a checksum of the data). Rollback does not restore them.
   */
  omittedAnnotations?: QualifiedName[]
  /**
   * Labels of the Secret left out for the same reason (a value shaped like a token or key). Rollback does not restore them.
   */
  omittedLabels?: QualifiedName[]
  /**
   * The fields copied: every key of the Secret, each to the OpenBao field of the same name.
   */
  fields?: SecretKey[]
  /**
   * Fields whose value is not UTF-8 text (binary: keystores, DER certificates), stored in OpenBao base64-encoded (standard alphabet, padded), since a KV v2 field holds text. Delivery and rollback decode them back byte for byte.
   */
  base64Fields?: SecretKey[]
  /**
   * Why `target migrate finalize` keeps this Secret in Kubernetes whatever else holds (an image pull secret: the kubelet pulls images with it and cannot read OpenBao).
   */
  keep?: string
  copy: SecretCopy
  deletion?: SecretEvent
  restore?: SecretEvent1
}
/**
 * The copy of one Secret into OpenBao: when, by whom, which KV version, and how equality was proven.
 *
 * This interface was referenced by `MigrationPlan`'s JSON-Schema
 * via the `definition` "SecretCopy".
 */
export interface SecretCopy {
  /**
   * When the copy was proven equal.
   */
  at: string
  /**
   * Who ran `target migrate`.
   */
  by: string
  /**
   * The KV v2 version that holds the Secret's values.
   */
  kvVersion: number
  /**
   * How equality was proven: an HMAC over every field name and value, computed on the Kubernetes values and on the KV version read back, with a random key that existed only in the run's memory. Only the algorithm is recorded: key and digests are discarded, so nothing here can be checked against a guessed value.
   */
  digest: 'hmac-sha256'
  /**
   * The Kubernetes Secret's UID when copied: a Secret of this name with another UID is a different (re-created) object.
   */
  sourceUid?: string
  /**
   * The Secret's resourceVersion when copied: while it is unchanged, so is the Secret.
   */
  sourceResourceVersion?: string
}
/**
 * When `target migrate finalize` deleted the Kubernetes Secret, and by whom.
 */
export interface SecretEvent {
  /**
   * When.
   */
  at: string
  /**
   * Who.
   */
  by: string
  /**
   * The UID of the Secret deleted or created.
   */
  uid?: string
  /**
   * For a restore: the KV v2 version the values came from.
   */
  kvVersion?: number
}
/**
 * When `target migrate rollback` last recreated the Kubernetes Secret, and by whom.
 */
export interface SecretEvent1 {
  /**
   * When.
   */
  at: string
  /**
   * Who.
   */
  by: string
  /**
   * The UID of the Secret deleted or created.
   */
  uid?: string
  /**
   * For a restore: the KV v2 version the values came from.
   */
  kvVersion?: number
}
/**
 * A workload listed for information only.
 *
 * This interface was referenced by `MigrationPlan`'s JSON-Schema
 * via the `definition` "ObservedWorkload".
 */
export interface ObservedWorkload {
  /**
   * Its kind.
   */
  kind: 'Pod' | 'Job' | 'Deployment' | 'StatefulSet' | 'DaemonSet' | 'CronJob'
  /**
   * Its namespace.
   */
  namespace: string
  /**
   * Its name.
   */
  name: string
  /**
   * Names of the Secrets it reads.
   */
  secrets?: DnsSubdomain[]
  /**
   * Why it is listed here.
   */
  reason?: string
}
/**
 * Something done to a Kubernetes Secret: when, by whom, the object's UID.
 *
 * This interface was referenced by `MigrationPlan`'s JSON-Schema
 * via the `definition` "SecretEvent".
 */
export interface SecretEvent2 {
  /**
   * When.
   */
  at: string
  /**
   * Who.
   */
  by: string
  /**
   * The UID of the Secret deleted or created.
   */
  uid?: string
  /**
   * For a restore: the KV v2 version the values came from.
   */
  kvVersion?: number
}
