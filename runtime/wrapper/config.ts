import {parseEnvMap, parseSecretPaths, type EnvMapGroup} from '../../lib/annotations.js'
import {CloudtaserError, ExitCode} from '../../lib/errors.js'

/**
 * The wrapper's settings, read from the CLOUDTASER_* variables the webhook wrote into the pod
 * spec. They are settings only: addresses, role, paths, the env-map. A token, when the token
 * auth method is used, is the one credential here and is stripped before the child starts.
 */
export interface WrapperConfig {
  command: string[]
  vaultAddr: string
  authMethod: 'kubernetes' | 'token'
  /** Mount of the kubernetes auth method, without the `auth/` prefix. */
  authMount: string
  role?: string
  token?: string
  tokenFile: string
  caFile?: string
  secretPaths: string[]
  envMap: EnvMapGroup[]
  onChange: 'restart' | 'sighup' | 'none'
  /** How long start may retry an unreachable OpenBao before giving up (the app never starts without secrets). */
  startDeadlineMs: number
  /** How often the KV versions are checked and the token renewed. */
  pollIntervalMs: number
}

export const SA_TOKEN_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/token'

const bad = (message: string) =>
  new CloudtaserError('WRAPPER_CONFIG', message, {exitCode: ExitCode.CONFIG, hint: 'The webhook writes these variables from the cloudtaser.io/* annotations; check the pod template annotations.'})

const ms = (v: string | undefined, dflt: number, name: string): number => {
  if (v === undefined || v === '') return dflt
  const m = /^(\d+)(ms|s|m)?$/.exec(v.trim())
  if (!m) throw bad(`${name}="${v}" is not a duration like 30s, 500ms or 2m`)
  return Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000)
}

export function readConfig(env: NodeJS.ProcessEnv): WrapperConfig {
  let command: unknown
  try {
    command = JSON.parse(env.CLOUDTASER_ORIGINAL_CMD ?? '')
  } catch {
    throw bad('CLOUDTASER_ORIGINAL_CMD is missing or not a JSON array of strings')
  }
  if (!Array.isArray(command) || command.length === 0 || !command.every((c) => typeof c === 'string')) {
    throw bad('CLOUDTASER_ORIGINAL_CMD must be a non-empty JSON array of strings')
  }
  const vaultAddr = (env.CLOUDTASER_VAULT_ADDR ?? '').replace(/\/+$/, '')
  if (!/^https?:\/\/[^/]+/.test(vaultAddr)) throw bad(`CLOUDTASER_VAULT_ADDR="${vaultAddr}" is not an http(s) URL`)
  const authMethod = (env.CLOUDTASER_VAULT_AUTH_METHOD || 'kubernetes') as WrapperConfig['authMethod']
  if (authMethod !== 'kubernetes' && authMethod !== 'token') throw bad(`CLOUDTASER_VAULT_AUTH_METHOD="${authMethod}" must be kubernetes or token`)
  const role = env.CLOUDTASER_VAULT_ROLE || undefined
  if (authMethod === 'kubernetes' && !role) throw bad('kubernetes auth needs CLOUDTASER_VAULT_ROLE (annotation cloudtaser.io/vault-role)')
  const token = env.CLOUDTASER_VAULT_TOKEN || undefined
  if (authMethod === 'token' && !token) throw bad('token auth needs CLOUDTASER_VAULT_TOKEN')
  const secretPaths = parseSecretPaths(env.CLOUDTASER_SECRET_PATHS ?? '')
  if (secretPaths.length === 0) throw bad('CLOUDTASER_SECRET_PATHS names no secret')
  let envMap: EnvMapGroup[]
  try {
    envMap = parseEnvMap(env.CLOUDTASER_ENV_MAP ?? '')
  } catch (err) {
    throw bad(`CLOUDTASER_ENV_MAP: ${(err as Error).message}`)
  }
  if (envMap.length > secretPaths.length) throw bad(`CLOUDTASER_ENV_MAP has ${envMap.length} groups for ${secretPaths.length} secret paths`)
  const onChange = (env.CLOUDTASER_ON_SECRET_CHANGE || 'restart') as WrapperConfig['onChange']
  if (!['restart', 'sighup', 'none'].includes(onChange)) throw bad(`CLOUDTASER_ON_SECRET_CHANGE="${onChange}" must be restart, sighup or none`)
  return {
    command: command as string[],
    vaultAddr,
    authMethod,
    authMount: (env.CLOUDTASER_VAULT_AUTH_PATH || 'kubernetes').replace(/^\/?auth\//, '').replace(/\/+$/, ''),
    role,
    token,
    tokenFile: env.CLOUDTASER_SA_TOKEN_FILE || SA_TOKEN_FILE,
    caFile: env.CLOUDTASER_VAULT_CACERT || undefined,
    secretPaths,
    envMap,
    onChange,
    startDeadlineMs: ms(env.CLOUDTASER_START_DEADLINE, 60_000, 'CLOUDTASER_START_DEADLINE'),
    pollIntervalMs: ms(env.CLOUDTASER_POLL_INTERVAL, 30_000, 'CLOUDTASER_POLL_INTERVAL'),
  }
}

/** Names the child must never inherit: our settings and any OpenBao token in the pod's env. */
const STRIPPED = /^(CLOUDTASER_|VAULT_TOKEN$|BAO_TOKEN$)/

/**
 * The child's environment without its secrets: the container's own variables minus ours, minus
 * the names the secrets will set (the secrets win, and an envp must not hold a name twice).
 */
export function childBase(parent: NodeJS.ProcessEnv, secretNames: Iterable<string>): Record<string, string> {
  const taken = new Set(secretNames)
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(parent)) if (v !== undefined && !STRIPPED.test(k) && !taken.has(k)) out[k] = v
  return out
}
