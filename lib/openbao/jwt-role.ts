// A role planned as "these ServiceAccounts of this namespace", for a `jwt` auth mount: beacon
// mode, where OpenBao cannot reach the cluster's apiserver for a TokenReview and checks the
// ServiceAccount token's signature with the cluster's public keys instead (docs/bridge.md).
import type {RoleSpec} from './managed.js'

/** The audience of the tokens wrappers present through the broker (the webhook mounts them). */
export const BROKER_TOKEN_AUDIENCE = 'cloudtaser'

const SUBJECT = /^system:serviceaccount:([^:]+):([^:]+)$/

export function jwtRoleBody(spec: RoleSpec): Record<string, unknown> {
  const subjects = spec.bound_service_account_namespaces.flatMap((ns) => spec.bound_service_account_names.map((sa) => `system:serviceaccount:${ns}:${sa}`)).sort()
  return {
    role_type: 'jwt',
    user_claim: 'sub',
    bound_audiences: [BROKER_TOKEN_AUDIENCE],
    // Any listed subject matches (a list value in bound_claims is "one of").
    bound_claims: {sub: subjects},
    token_policies: spec.token_policies,
    token_ttl: spec.token_ttl,
    token_max_ttl: spec.token_max_ttl,
  }
}

/** What a jwt role read back binds, as a RoleSpec; subjects that are not ServiceAccounts (someone else's role) bind nothing we plan. */
export function roleSpecOfJwt(d: Record<string, unknown>): RoleSpec {
  const raw = (d.bound_claims as {sub?: string | string[]} | null | undefined)?.sub
  const subjects = (Array.isArray(raw) ? raw : raw ? [raw] : []).map((s) => SUBJECT.exec(s)).filter((m) => m !== null)
  const audiences = (d.bound_audiences as string[] | null | undefined) ?? []
  // Another audience is a different role: read as binding no ServiceAccount, so the plan shows an update.
  const ours = audiences.length === 1 && audiences[0] === BROKER_TOKEN_AUDIENCE
  return {
    bound_service_account_names: ours ? [...new Set(subjects.map((m) => m[2]!))] : [],
    bound_service_account_namespaces: [...new Set(subjects.map((m) => m[1]!))],
    token_policies: (d.token_policies as string[] | undefined) ?? [],
    token_ttl: (d.token_ttl as number | undefined) ?? 0,
    token_max_ttl: (d.token_max_ttl as number | undefined) ?? 0,
  }
}
