import type {V1Container, V1EnvVar, V1VolumeMount} from '@kubernetes/client-node'
import {S3_PROXY_CREDENTIAL_FIELDS, type S3ProxyRequest} from '../../lib/s3-proxy-annotations.js'

export {S3_PROXY_CREDENTIAL_FIELDS, s3ProxyRequest, type S3ProxyRequest} from '../../lib/s3-proxy-annotations.js'

/**
 * Pure: the S3 proxy a Pod asks for with `cloudtaser.io/s3-proxy: "true"`, as a native sidecar
 * (an init container with restartPolicy Always, Kubernetes >= 1.29). It runs `s3-proxy run` of
 * the cloudtaser image under the wrapper, like an app: the wrapper reads the proxy's S3
 * credentials from OpenBao into its environment, and the proxy logs in for Transit with the Pod's
 * ServiceAccount token as the same role. So the Pod spec holds settings only, never a credential.
 */

export const S3_PROXY_CONTAINER = 'cloudtaser-s3-proxy'
/** The S3 port, on loopback only: the app reaches it as localhost, nothing outside the Pod can. */
export const S3_PROXY_PORT = 8190
/** /healthz, /readyz, /metrics: on the Pod's address, because the kubelet probes that one. */
export const S3_PROXY_OPS_PORT = 8191
/**
 * The cloudtaser image's entrypoint (lib/lab/images.ts CLOUDTASER; a test keeps the two equal).
 * The wrapper needs the whole command line: it starts the program itself.
 */
export const CLOUDTASER_IMAGE_ENTRYPOINT = ['/usr/local/bin/node', '/app/bin/run.js']

export const S3_PROXY_ENV_MAP = Object.entries(S3_PROXY_CREDENTIAL_FIELDS)
  .map(([field, env]) => `${field}=${env}`)
  .join(',')

/**
 * The proxy's Node process, as the sidecar runs it: one V8 worker thread instead of four, and two
 * malloc arenas instead of one per thread. Together ~8 MB less RSS during a transfer and no CPU
 * per MiB measurably lost (bench/s3-proxy.mjs runs the proxy with these too). Neither can be set
 * from inside a running process, so they are the container's environment.
 */
export const S3_PROXY_PROCESS_ENV: readonly V1EnvVar[] = [
  {name: 'NODE_OPTIONS', value: '--v8-pool-size=1'},
  {name: 'MALLOC_ARENA_MAX', value: '2'},
]

/** How the proxy logs in to OpenBao: as the wrapper beside it does, with the same role and token. */
export interface S3ProxyLogin {
  role: string
  /** The kubernetes (or, through the broker, jwt) auth mount, without `auth/`. */
  authMount: string
  tokenFile?: string
}

/** `s3-proxy run`'s command line: settings only; the credentials arrive in its environment. */
export function s3ProxyCommand(r: S3ProxyRequest, login: S3ProxyLogin): string[] {
  return [
    ...CLOUDTASER_IMAGE_ENTRYPOINT,
    's3-proxy',
    'run',
    `--host=127.0.0.1`,
    `--port=${S3_PROXY_PORT}`,
    `--ops-host=0.0.0.0`,
    `--ops-port=${S3_PROXY_OPS_PORT}`,
    `--upstream=${r.upstream}`,
    `--region=${r.region}`,
    `--transit-mount=${r.transitMount}`,
    `--transit-key=${r.transitKey}`,
    '--bao-auth=kubernetes',
    `--bao-role=${login.role}`,
    `--bao-auth-mount=${login.authMount}`,
    ...(login.tokenFile ? [`--sa-token-file=${login.tokenFile}`] : []),
    ...(r.requireEncrypted ? ['--require-encrypted'] : []),
  ]
}

/**
 * The sidecar around a command the wrapper starts. `env` and `volumeMounts` are the wrapper's
 * (settings, its binary, the token and CA); the rest is what a sidecar needs to be a good
 * neighbour: a startup probe (the app's containers start only once it passes), readiness,
 * requests sized from docs/s3-proxy.md's RSS measurements (64-100 MB), no privileges.
 */
export function s3ProxyContainer(o: {image: string; command: string[]; env: V1EnvVar[]; volumeMounts: V1VolumeMount[]}): V1Container {
  const probe = {httpGet: {path: '/readyz', port: S3_PROXY_OPS_PORT}}
  return {
    name: S3_PROXY_CONTAINER,
    image: o.image,
    restartPolicy: 'Always',
    command: o.command,
    env: [...o.env, ...S3_PROXY_PROCESS_ENV],
    volumeMounts: o.volumeMounts,
    ports: [{name: 's3-proxy-ops', containerPort: S3_PROXY_OPS_PORT}],
    // The wrapper waits up to its start deadline (60 s) for OpenBao: the probe waits as long.
    startupProbe: {...probe, periodSeconds: 1, failureThreshold: 90},
    readinessProbe: {...probe, periodSeconds: 10},
    resources: {requests: {cpu: '100m', memory: '128Mi'}, limits: {memory: '256Mi'}},
    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: {drop: ['ALL']}},
  }
}
