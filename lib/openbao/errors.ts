import {CloudtaserError, ExitCode} from '../errors.js'

/**
 * Every OpenBao failure a user can meet, each with a stable code. The message names what failed
 * (method, path, capability); never a token or a secret value.
 */
export const baoError = {
  noAddress: () =>
    new CloudtaserError('BAO_NO_ADDRESS', 'no OpenBao address: set BAO_ADDR (or VAULT_ADDR) or pass --openbao-addr', {
      exitCode: ExitCode.CONFIG,
      hint: 'export BAO_ADDR=https://openbao.example.eu:8200',
    }),
  badAddress: (addr: string) =>
    new CloudtaserError('BAO_BAD_ADDRESS', `"${addr}" is not an http(s) URL`, {exitCode: ExitCode.CONFIG, hint: 'Use the form https://host:8200.'}),
  noToken: () =>
    new CloudtaserError('BAO_NO_TOKEN', 'no OpenBao token: set BAO_TOKEN (or VAULT_TOKEN), pass --token, or run `bao login` (writes ~/.vault-token)', {
      exitCode: ExitCode.CONFIG,
    }),
  caUnreadable: (file: string, err: unknown) =>
    new CloudtaserError('BAO_CACERT_UNREADABLE', `cannot read the CA certificate ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, {
      exitCode: ExitCode.CONFIG,
      hint: 'BAO_CACERT (or VAULT_CACERT, --ca-cert) must name a PEM file.',
      cause: err,
    }),
  tls: (addr: string, err: unknown) =>
    new CloudtaserError('BAO_TLS', `TLS to ${addr} failed: ${describeCause(err)}`, {
      exitCode: ExitCode.CONFIG,
      hint: 'Point BAO_CACERT (or --ca-cert) at the CA that signed the server certificate. Verification stays on.',
      cause: err,
    }),
  unreachable: (addr: string, what: string, err: unknown, attempts: number) =>
    new CloudtaserError('BAO_UNREACHABLE', `OpenBao at ${addr} did not answer ${what} after ${attempts} attempt(s): ${describeCause(err)}`, {
      exitCode: ExitCode.UNAVAILABLE,
      hint: 'Check BAO_ADDR and the network path to OpenBao.',
      cause: err,
    }),
  sealed: (addr: string) =>
    new CloudtaserError('BAO_SEALED', `OpenBao at ${addr} is sealed`, {
      exitCode: ExitCode.UNAVAILABLE,
      hint: 'Unseal it (`bao operator unseal`) and run the command again.',
    }),
  unavailable: (what: string, status: number, detail: string, attempts: number) =>
    new CloudtaserError('BAO_UNAVAILABLE', `${what}: HTTP ${status} after ${attempts} attempt(s)${detail ? `: ${detail}` : ''}`, {
      exitCode: ExitCode.UNAVAILABLE,
    }),
  invalidToken: () =>
    new CloudtaserError('BAO_INVALID_TOKEN', 'the OpenBao token is invalid or expired (auth/token/lookup-self was refused)', {
      exitCode: ExitCode.AUTH,
      hint: 'Log in again (`bao login`) or set a fresh BAO_TOKEN. A token created without the default policy cannot look itself up and is reported here too.',
    }),
  permissionDenied: (method: string, path: string, capability: string) =>
    new CloudtaserError('BAO_PERMISSION_DENIED', `permission denied: ${method} ${path} needs the "${capability}" capability on "${path}"`, {
      exitCode: ExitCode.AUTH,
      hint: `Grant it in the token's policy: path "${path}" { capabilities = ["${capability}"] }`,
      details: {method, path, capability},
    }),
  request: (what: string, status: number, detail: string) =>
    new CloudtaserError('BAO_REQUEST_FAILED', `${what}: HTTP ${status}${detail ? `: ${detail}` : ''}`, {exitCode: ExitCode.CHECK_FAILED}),
  kvMountMissing: (mount: string, visible: boolean) =>
    new CloudtaserError('BAO_KV_MOUNT_MISSING', `no secrets engine is mounted at "${mount}/"${visible ? '' : ' (or this token may not see it)'}`, {
      exitCode: ExitCode.CONFIG,
      hint: `Enable KV version 2 there: bao secrets enable -path=${mount} -version=2 kv`,
    }),
  notKv: (mount: string, type: string) =>
    new CloudtaserError('BAO_NOT_KV', `"${mount}/" is a ${type} secrets engine, not KV version 2`, {
      exitCode: ExitCode.CONFIG,
      hint: 'Set openbao.kvMount in the plan to a KV version 2 mount.',
    }),
  kvV1: (mount: string) =>
    new CloudtaserError('BAO_KV_V1', `"${mount}/" is KV version 1; cloudtaser needs KV version 2 (versions, soft delete, <mount>/data/ paths)`, {
      exitCode: ExitCode.CONFIG,
      hint: `Upgrade it in place: bao kv enable-versioning ${mount}`,
    }),
  authMountMissing: (mount: string) =>
    new CloudtaserError('BAO_AUTH_MOUNT_MISSING', `no kubernetes or jwt auth method is enabled at "auth/${mount}/"`, {
      exitCode: ExitCode.CONFIG,
      hint: 'Run `cloudtaser target connect` for this cluster first (it enables and configures the auth method); in beacon mode, `cloudtaser source configure --jwt-from-registration <fingerprint>`.',
    }),
}

/** An error may wrap the interesting one (ECONNREFUSED, a certificate error) in `cause`. */
export function describeCause(err: unknown): string {
  let e = err as {message?: string; code?: string; cause?: unknown} | undefined
  const parts: string[] = []
  for (let i = 0; e && i < 4; i++, e = e.cause as typeof e) {
    const text = e.code && !String(e.message).includes(e.code) ? `${e.code} ${e.message ?? ''}`.trim() : (e.message ?? String(e))
    if (text && !parts.includes(text)) parts.push(text)
  }
  return parts.join(': ') || String(err)
}

const TLS_CODES = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|HOSTNAME|ALTNAME/
export function isTlsError(err: unknown): boolean {
  for (let e = err as {code?: string; cause?: unknown} | undefined, i = 0; e && i < 4; i++, e = e.cause as typeof e) {
    if (e.code && TLS_CODES.test(e.code)) return true
  }
  return false
}
