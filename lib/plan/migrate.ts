/**
 * Every plan passes through here before validation. Each entry upgrades one apiVersion to the
 * next, so supporting v2 means a new schema file plus one migration and its test; v1 files in
 * archives keep loading forever.
 */
export const CURRENT_API_VERSION = 'cloudtaser.io/v1'
export const PLAN_KIND = 'MigrationPlan'

type Migration = (plan: Record<string, unknown>) => Record<string, unknown>

/** apiVersion -> migration to the next version. Empty while v1 is the only version. */
export const MIGRATIONS: Record<string, {to: string; migrate: Migration}> = {}

export const SUPPORTED_API_VERSIONS = [...Object.keys(MIGRATIONS), CURRENT_API_VERSION]

export type MigrateResult =
  | {ok: true; plan: Record<string, unknown>; from: string}
  | {ok: false; field: 'apiVersion' | 'kind' | 'root'; message: string}

export function migrate(input: unknown): MigrateResult {
  if (!input || typeof input !== 'object' || Array.isArray(input)) {
    return {ok: false, field: 'root', message: `a plan must be a YAML mapping with apiVersion: ${CURRENT_API_VERSION} and kind: ${PLAN_KIND}`}
  }
  let plan = input as Record<string, unknown>
  if (plan.kind !== PLAN_KIND) {
    return {ok: false, field: 'kind', message: `unsupported kind ${JSON.stringify(plan.kind)}; expected "${PLAN_KIND}"`}
  }
  const from = plan.apiVersion
  if (typeof from !== 'string' || !SUPPORTED_API_VERSIONS.includes(from)) {
    return {
      ok: false,
      field: 'apiVersion',
      message: `unsupported apiVersion ${JSON.stringify(from)}; this cloudtaser reads ${SUPPORTED_API_VERSIONS.join(', ')}`,
    }
  }
  for (let v = from; v !== CURRENT_API_VERSION; ) {
    const step = MIGRATIONS[v]!
    plan = {...step.migrate(plan), apiVersion: step.to}
    v = step.to
  }
  return {ok: true, plan, from}
}
