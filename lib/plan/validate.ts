import type {ErrorObject, ValidateFunction} from 'ajv/dist/2020.js'
import {createRequire} from 'node:module'
import {BUILT_VALIDATOR, compileQuickValidators, freeTextShape, planAjv, planSchemaSha256, planSchemaText, type BuiltValidatorModule, type QuickValidators} from './plan-ajv.js'
import {FORBIDDEN_KEYS, secretShape} from './secret-shapes.js'
import type {PlanIssueCode} from '../errors.js'
import type {MigrationPlan} from './types.generated.js'

export {SCHEMA_URL} from './plan-ajv.js'

/** A validation problem located by JSON pointer; io.ts turns pointers into line:col. */
export interface PointerIssue {
  pointer: string
  /** Set when the problem is a key rather than a value (unknown or forbidden property). */
  key?: string
  /** Text inside the value to point at (a secret-shaped string in a multi-line scalar). */
  needle?: string
  code: PlanIssueCode
  message: string
}

const require = createRequire(import.meta.url)
let compiled: ValidateFunction<MigrationPlan> | undefined
let quick: QuickValidators | undefined

/**
 * Two validators of one schema: a quick one that stops at the first error (the common case is
 * a valid plan), and one that collects every error with its data, used only when the quick one
 * fails. The quick ones normally come built (see plan-ajv.ts).
 */
const thorough = (): ValidateFunction<MigrationPlan> => (compiled ??= planAjv('thorough').compile<MigrationPlan>(JSON.parse(planSchemaText())))
const quickValidators = (): QuickValidators => (quick ??= builtQuick() ?? compileQuickValidators())

/** The quick validators `npm run build` wrote next to this file, unless the schema changed since. Absent when running from source. */
function builtQuick(): QuickValidators | undefined {
  let built: BuiltValidatorModule
  try {
    built = require(`./${BUILT_VALIDATOR}`) as BuiltValidatorModule
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') return undefined
    throw err
  }
  return built.schemaSha256 === planSchemaSha256() ? built.create(freeTextShape) : undefined
}

const escape = (s: string): string => s.replaceAll('~', '~0').replaceAll('/', '~1')

function describe(e: ErrorObject): PointerIssue {
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(e.params.additionalProperty)
      return {pointer: e.instancePath, key, code: 'PLAN_SCHEMA', message: `unknown field "${key}"`}
    }
    case 'required':
      return {pointer: e.instancePath, code: 'PLAN_SCHEMA', message: `missing required field "${String(e.params.missingProperty)}"`}
    case 'enum':
      return {
        pointer: e.instancePath,
        code: 'PLAN_SCHEMA',
        message: `${e.instancePath.split('/').at(-1)} ${JSON.stringify(e.data)} must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`,
      }
    case 'const':
      return {pointer: e.instancePath, code: 'PLAN_SCHEMA', message: `must be ${JSON.stringify(e.params.allowedValue)}`}
    case 'x-free-text':
      return {
        pointer: e.instancePath,
        needle: String(e.params.match),
        code: 'PLAN_SECRET_VALUE',
        message: e.message ?? 'looks like a secret value',
      }
    case 'pattern': {
      const where = e.instancePath.split('/').at(-1)
      const what = (e.parentSchema as {description?: string} | undefined)?.description?.split('. ')[0]?.replace(/\.$/, '')
      return {
        pointer: e.instancePath,
        code: 'PLAN_SCHEMA',
        message: `${where} ${JSON.stringify(e.data)} is not valid${what ? ` (${what})` : ''}: must match ${String(e.params.pattern)}`,
      }
    }
    case 'propertyNames':
      return {pointer: e.instancePath, key: String(e.params.propertyName), code: 'PLAN_SCHEMA', message: `invalid key "${String(e.params.propertyName)}"`}
    default: {
      const where = e.instancePath === '' ? 'plan' : e.instancePath.split('/').at(-1)
      return {pointer: e.instancePath, code: 'PLAN_SCHEMA', message: `${where} ${e.message ?? 'is invalid'}`}
    }
  }
}

/**
 * Maps whose keys are names chosen elsewhere (a Secret's own field names; a Secret's label and
 * annotation keys, recorded by migrate), not places a value could hide: a Secret may have a key
 * or an annotation named `data`.
 */
const NAME_MAPS = new Set(['fields', 'labels', 'annotations'])

/** Keys and strings anywhere in the document that look like a pasted secret. */
function hunt(value: unknown, pointer: string, inFields: boolean, out: PointerIssue[]): void {
  if (typeof value === 'string') {
    const shape = secretShape(value, false)
    if (shape) {
      out.push({pointer, needle: shape.match, code: 'PLAN_SECRET_VALUE', message: `looks like ${shape.what}; a plan must never contain secret values`})
    }
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => hunt(v, `${pointer}/${i}`, false, out))
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (!inFields && FORBIDDEN_KEYS.has(k)) {
        out.push({
          pointer,
          key: k,
          code: 'PLAN_SECRET_VALUE',
          message: `"${k}" is not allowed: it is where Kubernetes keeps secret values, and a plan never holds one`,
        })
        continue
      }
      hunt(v, `${pointer}/${escape(k)}`, NAME_MAPS.has(k), out)
    }
  }
}

/** The same walk as hunt() without building pointers: the answer for almost every plan is "nothing". */
function suspicious(value: unknown, inFields: boolean): boolean {
  if (typeof value === 'string') return secretShape(value, false) !== undefined
  if (Array.isArray(value)) return value.some((v) => suspicious(v, false))
  if (value && typeof value === 'object') {
    for (const k in value) {
      if (!inFields && FORBIDDEN_KEYS.has(k)) return true
      if (suspicious((value as Record<string, unknown>)[k], NAME_MAPS.has(k))) return true
    }
  }
  return false
}

/** Validates a migrated plan object; an empty list means valid. */
export function validatePlan(plan: unknown): PointerIssue[] {
  const issues: PointerIssue[] = []
  if (suspicious(plan, false)) hunt(plan, '', false, issues)
  if (issues.length === 0 && quickValidators().plan(plan)) return issues
  const validate = thorough()
  if (!validate(plan)) {
    // A forbidden key is also an unknown one, and a token in free text is caught twice:
    // report each place once, with the message found first (the more specific one).
    const seen = new Set(issues.map((i) => `${i.pointer}|${i.key ?? ''}|${i.code}`))
    for (const e of validate.errors ?? []) {
      if (e.keyword === 'if') continue
      const issue = describe(e)
      const id = `${issue.pointer}|${issue.key ?? ''}|${issue.code}`
      const forbiddenKey = issue.key !== undefined && seen.has(`${issue.pointer}|${issue.key}|PLAN_SECRET_VALUE`)
      if (seen.has(id) || forbiddenKey) continue
      seen.add(id)
      issues.push(issue)
    }
  }
  return issues
}

export const isPlan = (plan: unknown): plan is MigrationPlan => validatePlan(plan).length === 0
