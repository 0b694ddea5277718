/**
 * Exit codes are part of the CLI's contract: scripts branch on them.
 * 1 is reserved for "the check ran and found problems" (invalid plan, missing secret),
 * so a failing check is distinguishable from a tool that could not run at all.
 */
export const ExitCode = {
  OK: 0,
  CHECK_FAILED: 1,
  USAGE: 2,
  CONFIG: 3,
  AUTH: 4,
  UNAVAILABLE: 5,
  CONFLICT: 6,
  INTERRUPTED: 130,
  INTERNAL: 70,
} as const
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

/**
 * Every error code the CLI and the daemons report, with its exit code and, where one fits every
 * use, a default hint (fastify's lib/errors.js is the model). Codes are a contract: scripts and
 * `--json` consumers branch on them, so CloudtaserError takes only a code listed here (a typo
 * fails the type check). docs/*.md tables name them.
 */
export const ERRORS = {
  // any command
  BAD_FINGERPRINT: {exitCode: ExitCode.USAGE},
  CLI_ERROR: {exitCode: ExitCode.CHECK_FAILED},
  FINGERPRINT_MISMATCH: {exitCode: ExitCode.USAGE},
  INTERNAL: {exitCode: ExitCode.INTERNAL, hint: 'This is a bug in cloudtaser; please report it with the command you ran.'},
  INTERRUPTED: {exitCode: ExitCode.INTERRUPTED},
  USAGE: {exitCode: ExitCode.USAGE, hint: 'Run the command with --help for its flags and examples.'},
  // Kubernetes (lib/kube and its users)
  KUBECONFIG_INVALID: {exitCode: ExitCode.CONFIG, hint: 'Pass --kubeconfig or set KUBECONFIG, as for kubectl.'},
  KUBE_API_ERROR: {exitCode: ExitCode.UNAVAILABLE},
  KUBE_CA_UNREADABLE: {exitCode: ExitCode.CONFIG},
  KUBE_CONTEXT_UNKNOWN: {exitCode: ExitCode.CONFIG},
  KUBE_FORBIDDEN: {exitCode: ExitCode.AUTH},
  KUBE_NAMESPACE_UNKNOWN: {exitCode: ExitCode.USAGE},
  KUBE_NOT_FOUND: {exitCode: ExitCode.CHECK_FAILED},
  KUBE_NO_CA: {exitCode: ExitCode.CONFIG},
  KUBE_NO_CLUSTER: {exitCode: ExitCode.CONFIG},
  KUBE_TOKEN_REQUEST: {exitCode: ExitCode.UNAVAILABLE},
  KUBE_UNAUTHORIZED: {exitCode: ExitCode.AUTH},
  KUBE_UNREACHABLE: {exitCode: ExitCode.UNAVAILABLE},
  // target debug
  DEBUG_REPORT_UNSUPPORTED: {exitCode: ExitCode.CONFIG},
  DEBUG_REPORT_TIMEOUT: {exitCode: ExitCode.UNAVAILABLE},
  // the plan file (the first issue's code when a plan is invalid)
  PLAN_INVALID: {exitCode: ExitCode.CHECK_FAILED},
  PLAN_SCHEMA: {exitCode: ExitCode.CHECK_FAILED},
  PLAN_SECRET_VALUE: {exitCode: ExitCode.CHECK_FAILED},
  PLAN_VERSION: {exitCode: ExitCode.CHECK_FAILED},
  PLAN_YAML_AMBIGUOUS: {exitCode: ExitCode.CHECK_FAILED},
  PLAN_YAML_SYNTAX: {exitCode: ExitCode.CHECK_FAILED},
  PLAN_CHANGED_ON_DISK: {exitCode: ExitCode.CONFLICT},
  PLAN_NO_FINGERPRINT: {exitCode: ExitCode.USAGE},
  PLAN_PATH_MOUNT_MISMATCH: {exitCode: ExitCode.CONFIG},
  PLAN_UNREADABLE: {exitCode: ExitCode.USAGE},
  PLAN_WOULD_BE_INVALID: {exitCode: ExitCode.INTERNAL},
  // the S3 proxy (S3_REQUEST: a failure answered to the S3 client; its S3 code is S3Error.s3Code)
  S3_BODY_LENGTH: {exitCode: ExitCode.USAGE},
  S3_INTEGRITY: {exitCode: ExitCode.CHECK_FAILED},
  S3_PROXY_CONFIG: {exitCode: ExitCode.CONFIG},
  S3_REQUEST: {exitCode: ExitCode.CHECK_FAILED},
  TRANSIT_BAD_CIPHERTEXT: {exitCode: ExitCode.CHECK_FAILED},
  TRANSIT_KEY_MISSING: {exitCode: ExitCode.CONFIG},
  // target discover
  DISCOVER_UNREPRESENTABLE: {exitCode: ExitCode.CONFIG},
  // target protect / unprotect
  PROTECT_LEASE_LOST: {exitCode: ExitCode.CONFLICT},
  PROTECT_LOCKED: {exitCode: ExitCode.CONFLICT},
  PROTECT_NO_ADDRESS: {exitCode: ExitCode.CONFIG},
  PROTECT_WRONG_CLUSTER: {exitCode: ExitCode.CONFLICT},
  // target migrate (copy, finalize, rollback, --check); per-Secret outcomes are in the result, these stop a run
  MIGRATE_PATH_AMBIGUOUS: {exitCode: ExitCode.CONFIG},
  MIGRATE_UNKNOWN_SECRET: {exitCode: ExitCode.USAGE, hint: 'Name a Secret the plan records, as NAMESPACE/NAME (see `cloudtaser plan show`).'},
  MIGRATE_NOT_VIA_BROKER: {exitCode: ExitCode.CONFIG},
  MIGRATE_NO_MIGRATOR: {exitCode: ExitCode.CONFIG, hint: 'The chart creates the ServiceAccount cloudtaser-migrator beside the broker in beacon mode: upgrade with `cloudtaser target install --mode beacon ...`.'},
  MIGRATE_NEEDS_JWT_MOUNT: {exitCode: ExitCode.CONFIG, hint: 'Cluster-side migrate is for beacon mode (a jwt auth mount, `source configure --jwt-from-registration`). With a kubernetes mount, OpenBao is reachable directly: run `target migrate` with BAO_ADDR and BAO_TOKEN.'},
  // OpenBao (lib/openbao)
  BAO_AUTH_MOUNT_MISSING: {exitCode: ExitCode.CONFIG},
  BAO_AUTH_MOUNT_CONFLICT: {exitCode: ExitCode.CONFLICT},
  BAO_NO_CLUSTER_KEYS: {exitCode: ExitCode.CONFIG},
  BAO_BAD_ADDRESS: {exitCode: ExitCode.CONFIG},
  BAO_CACERT_UNREADABLE: {exitCode: ExitCode.CONFIG},
  BAO_INVALID_TOKEN: {exitCode: ExitCode.AUTH},
  BAO_KV_MOUNT_MISSING: {exitCode: ExitCode.CONFIG},
  BAO_KV_V1: {exitCode: ExitCode.CONFIG},
  BAO_LOGIN_REFUSED: {exitCode: ExitCode.AUTH},
  BAO_NAMESPACES_UNSUPPORTED: {exitCode: ExitCode.CONFIG},
  BAO_NOT_KV: {exitCode: ExitCode.CONFIG},
  BAO_NO_ADDRESS: {exitCode: ExitCode.CONFIG},
  BAO_NO_TOKEN: {exitCode: ExitCode.CONFIG},
  BAO_PERMISSION_DENIED: {exitCode: ExitCode.AUTH},
  BAO_REQUEST_FAILED: {exitCode: ExitCode.CHECK_FAILED},
  BAO_SA_TOKEN_UNREADABLE: {exitCode: ExitCode.CONFIG},
  BAO_SEALED: {exitCode: ExitCode.UNAVAILABLE},
  BAO_TLS: {exitCode: ExitCode.CONFIG},
  BAO_UNAVAILABLE: {exitCode: ExitCode.UNAVAILABLE},
  BAO_UNREACHABLE: {exitCode: ExitCode.UNAVAILABLE},
  // source register
  REGISTER_RACE: {exitCode: ExitCode.CONFLICT},
  // the operator's image registry lookups
  REGISTRY_LOOKUP_FAILED: {exitCode: ExitCode.UNAVAILABLE},
  // install (helm)
  HELM_NOT_FOUND: {exitCode: ExitCode.CONFIG},
  HELM_FAILED: {exitCode: ExitCode.CONFIG},
  // the operator
  OPERATOR_BAD_CA_CONFIGMAP: {exitCode: ExitCode.USAGE},
  OPERATOR_BAD_MIRROR: {exitCode: ExitCode.USAGE},
  OPERATOR_NO_ADDRESS: {exitCode: ExitCode.USAGE},
  OPERATOR_LISTEN_FAILED: {exitCode: ExitCode.UNAVAILABLE},
  OPERATOR_MATERIAL_INVALID: {exitCode: ExitCode.CONFIG},
  OPERATOR_WEBHOOK_CONFIG_MISSING: {exitCode: ExitCode.CONFIG},
  // the bridge beside OpenBao (refusals it sends through the tunnel carry these codes) and the broker in the cluster
  BRIDGE_ALREADY_INITIALIZED: {exitCode: ExitCode.AUTH, hint: 'A certificate is issued once per registration; `cloudtaser source register --rotate-ca` starts over.'},
  BRIDGE_BAD_CSR: {exitCode: ExitCode.AUTH},
  BRIDGE_BAD_REQUEST: {exitCode: ExitCode.USAGE},
  BRIDGE_INTERNAL: {exitCode: ExitCode.INTERNAL},
  BRIDGE_NOT_REGISTERED: {exitCode: ExitCode.AUTH, hint: 'Register the cluster on the OpenBao side: `cloudtaser source register --fingerprint <uid>`.'},
  BRIDGE_PROOF_REFUSED: {exitCode: ExitCode.AUTH, hint: 'A broker renewal must carry a token of the broker\'s own ServiceAccount, signed by keys a tunnel recorded; otherwise run `source register --rotate-ca`.'},
  BRIDGE_REVOKED: {exitCode: ExitCode.AUTH, hint: 'The broker\'s certificate is not the one issued for the current registration; restart the broker after `source register --rotate-ca`.'},
  BRIDGE_WRONG_ROOM: {exitCode: ExitCode.AUTH},
  BROKER_BAD_CA_PIN: {exitCode: ExitCode.USAGE},
  BROKER_BAD_SERVICE_ACCOUNT: {exitCode: ExitCode.USAGE},
  BROKER_BOOTSTRAP_FAILED: {exitCode: ExitCode.UNAVAILABLE},
  BROKER_BOOTSTRAP_REFUSED: {exitCode: ExitCode.AUTH},
  BROKER_CA_PIN_MISMATCH: {exitCode: ExitCode.AUTH},
  BROKER_TUNNEL_DOWN: {exitCode: ExitCode.UNAVAILABLE, hint: 'The broker has no tunnel to the bridge: check the beacon address, that the bridge runs, and the broker\'s log.'},
  // the beacon and its clients
  BEACON_ABORTED: {exitCode: ExitCode.UNAVAILABLE},
  BEACON_BAD_ADDRESS: {exitCode: ExitCode.UNAVAILABLE},
  BEACON_CERT_INVALID: {exitCode: ExitCode.CONFIG},
  BEACON_CERT_UNREADABLE: {exitCode: ExitCode.CONFIG},
  BEACON_CLOSED: {exitCode: ExitCode.UNAVAILABLE},
  BEACON_LISTEN_FAILED: {exitCode: ExitCode.UNAVAILABLE},
  BEACON_NO_CERT: {exitCode: ExitCode.USAGE},
  BEACON_PEER_TLS: {exitCode: ExitCode.UNAVAILABLE},
  BEACON_REJECTED: {exitCode: ExitCode.UNAVAILABLE},
  BEACON_UNREACHABLE: {exitCode: ExitCode.UNAVAILABLE},
  // the eBPF agent
  EBPF_AGENT_MISSING: {exitCode: ExitCode.CONFIG},
  EBPF_AGENT_START_FAILED: {exitCode: ExitCode.UNAVAILABLE},
  EBPF_BAD_ANNOTATION: {exitCode: ExitCode.CONFIG},
  EBPF_DEGRADED: {exitCode: ExitCode.UNAVAILABLE},
  EBPF_NOT_ENFORCING: {exitCode: ExitCode.UNAVAILABLE},
  EBPF_REGISTER_FAILED: {exitCode: ExitCode.UNAVAILABLE},
  EBPF_UNAVAILABLE: {exitCode: ExitCode.UNAVAILABLE},
  // the local test environment (lib/lab)
  LAB_ALREADY_RUNNING: {exitCode: ExitCode.CONFLICT},
  LAB_BAD_OPTIONS: {exitCode: ExitCode.UNAVAILABLE},
  LAB_BUILD_FAILED: {exitCode: ExitCode.UNAVAILABLE},
  LAB_EXITED: {exitCode: ExitCode.UNAVAILABLE},
  LAB_IMAGE_BUILD: {exitCode: ExitCode.UNAVAILABLE},
  LAB_IMAGE_INPUT_MISSING: {exitCode: ExitCode.UNAVAILABLE},
  LAB_IMAGE_PUSH: {exitCode: ExitCode.UNAVAILABLE},
  LAB_NODE_CGROUP: {exitCode: ExitCode.UNAVAILABLE},
  LAB_NODE_NETWORK: {exitCode: ExitCode.UNAVAILABLE},
  LAB_NODE_NO_SLOT: {exitCode: ExitCode.UNAVAILABLE},
  LAB_NO_OPENBAO: {exitCode: ExitCode.UNAVAILABLE},
  LAB_NO_SOURCES: {exitCode: ExitCode.UNAVAILABLE},
  LAB_NOT_PERSISTENT: {exitCode: ExitCode.UNAVAILABLE},
  LAB_NOT_RUNNING: {exitCode: ExitCode.UNAVAILABLE},
  LAB_OPENBAO_API: {exitCode: ExitCode.UNAVAILABLE},
  LAB_PORT_IN_USE: {exitCode: ExitCode.UNAVAILABLE},
  LAB_SPAWN_FAILED: {exitCode: ExitCode.UNAVAILABLE},
  LAB_START_FAILED: {exitCode: ExitCode.UNAVAILABLE},
  LAB_STOP_FAILED: {exitCode: ExitCode.UNAVAILABLE},
  LAB_TIMEOUT: {exitCode: ExitCode.UNAVAILABLE},
} as const satisfies Record<string, {exitCode: ExitCode; hint?: string}>
export type ErrorCode = keyof typeof ERRORS
/** The codes of one problem in a plan file (lib/plan/issues.ts). */
export type PlanIssueCode = 'PLAN_SCHEMA' | 'PLAN_SECRET_VALUE' | 'PLAN_VERSION' | 'PLAN_YAML_AMBIGUOUS' | 'PLAN_YAML_SYNTAX'

export interface ErrorOptions {
  /** Only where this use needs another exit code than the registered one. */
  exitCode?: ExitCode
  /** Replaces the registered hint, if any. */
  hint?: string
  details?: unknown
  cause?: unknown
}

/** An error a user can act on: a stable code for scripts, an exit code, and what to do next. */
export class CloudtaserError extends Error {
  readonly code: ErrorCode
  readonly exitCode: ExitCode
  readonly hint?: string
  readonly details?: unknown

  constructor(code: ErrorCode, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause})
    this.name = 'CloudtaserError'
    this.code = code
    // Undefined only for a caller the type check did not see (plain JavaScript): a bug, so 70.
    const registered: {exitCode: ExitCode; hint?: string} | undefined = ERRORS[code]
    this.exitCode = options.exitCode ?? registered?.exitCode ?? ExitCode.INTERNAL
    this.hint = options.hint ?? registered?.hint
    this.details = options.details
  }

  toJSON(): {code: ErrorCode; message: string; exitCode: number; hint?: string; details?: unknown} {
    return {code: this.code, message: this.message, exitCode: this.exitCode, hint: this.hint, details: this.details}
  }
}

export const isCloudtaserError = (e: unknown): e is CloudtaserError => e instanceof CloudtaserError
