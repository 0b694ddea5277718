import {readFileSync} from 'node:fs'
import {homedir} from 'node:os'
import {join} from 'node:path'
import {baoError} from './errors.js'

/** Where the connection settings came from, so `--json` and errors can say it without the token. */
export type TokenSource = 'flag' | 'BAO_TOKEN' | 'VAULT_TOKEN' | 'token-file'

export interface ConnectionSettings {
  addr: string
  token: string
  tokenSource: TokenSource
  /** PEM text of extra CAs to trust (added to Node's defaults), from BAO_CACERT / --ca-cert. */
  ca?: string
  caFile?: string
  namespace?: string
  /** Per-attempt timeout. */
  timeoutMs: number
  /** Attempts per request for retryable failures (429, 5xx, connection errors). */
  attempts: number
}

export interface ConnectionFlags {
  'openbao-addr'?: string
  token?: string
  'ca-cert'?: string
  'bao-namespace'?: string
  'bao-timeout'?: number
}

const first = (env: NodeJS.ProcessEnv, ...names: string[]): [string, string] | undefined => {
  for (const n of names) {
    const v = env[n]
    if (v !== undefined && v !== '') return [n, v]
  }
  return undefined
}

/**
 * The bao CLI's own precedence: flag, then BAO_*, then VAULT_* (so existing Vault scripts keep
 * working), then the token helper's file (~/.vault-token, which `bao login` writes).
 */
export function resolveConnection(flags: ConnectionFlags = {}, env: NodeJS.ProcessEnv = process.env, home = env.HOME ?? homedir()): ConnectionSettings {
  const addr = (flags['openbao-addr'] ?? first(env, 'BAO_ADDR', 'VAULT_ADDR')?.[1])?.replace(/\/+$/, '')
  if (!addr) throw baoError.noAddress()
  if (!/^https?:\/\/[^/]+/.test(addr)) throw baoError.badAddress(addr)

  let token: string | undefined
  let tokenSource: TokenSource | undefined
  if (flags.token) [token, tokenSource] = [flags.token, 'flag']
  else {
    const fromEnv = first(env, 'BAO_TOKEN', 'VAULT_TOKEN')
    if (fromEnv) [tokenSource, token] = fromEnv as [TokenSource, string]
    else {
      try {
        token = readFileSync(join(home, '.vault-token'), 'utf8').trim() || undefined
        tokenSource = 'token-file'
      } catch {
        token = undefined
      }
    }
  }
  if (!token || !tokenSource) throw baoError.noToken()

  const caFile = flags['ca-cert'] ?? first(env, 'BAO_CACERT', 'VAULT_CACERT')?.[1]
  let ca: string | undefined
  if (caFile) {
    try {
      ca = readFileSync(caFile, 'utf8')
    } catch (err) {
      throw baoError.caUnreadable(caFile, err)
    }
  }
  return {addr, token, tokenSource, ca, caFile, ...resolveConnectionTimeouts(flags, env), attempts: 4}
}

/** The OpenBao namespace and per-attempt timeout, as the bao CLI takes them: for connections that bring their own address and token (`target migrate --via-broker`). */
export function resolveConnectionTimeouts(flags: ConnectionFlags = {}, env: NodeJS.ProcessEnv = process.env): {namespace?: string; timeoutMs: number} {
  const namespace = flags['bao-namespace'] ?? first(env, 'BAO_NAMESPACE', 'VAULT_NAMESPACE')?.[1]
  const timeoutSeconds = flags['bao-timeout'] ?? Number(first(env, 'BAO_CLIENT_TIMEOUT', 'VAULT_CLIENT_TIMEOUT')?.[1]?.replace(/s$/, '') || 30)
  return {namespace: namespace || undefined, timeoutMs: timeoutSeconds * 1000}
}
