import {createHash} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import {Document, LineCounter, parseDocument, type ToStringOptions} from 'yaml'
import {CloudtaserError, ExitCode} from '../errors.js'
import {writeFileAtomic, type AtomicWriteHooks} from './atomic-write.js'
import {PlanInvalidError, type PlanIssue} from './issues.js'
import {positionOf} from './locate.js'
import {migrate} from './migrate.js'
import {keepFormatting} from './keep-formatting.js'
import {syncDocument} from './sync-document.js'
import type {MigrationPlan} from './types.generated.js'
import {validatePlan} from './validate.js'

/**
 * The only module that reads or writes plan YAML. Everything else works on typed plans.
 * A loaded plan keeps its YAML document so a save changes only what the plan object changed,
 * and reviewers' comments and formatting survive.
 */
export interface LoadedPlan {
  readonly file: string
  readonly plan: MigrationPlan
  /** apiVersion the file had before migration. */
  readonly migratedFrom: string
  readonly doc: Document
  readonly format: ToStringOptions
  /** Hash of the bytes on disk when loaded: a save refuses to overwrite someone else's edit. */
  readonly sha256: string
  /** The file's bytes when loaded, so untouched lines are written back verbatim. */
  readonly source: string
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')

/** Matches how the file indents, so that re-serialising leaves untouched lines as they were. */
function detectFormat(text: string): ToStringOptions {
  const indent = /^( +)\S/m.exec(text)?.[1]?.length ?? 2
  // `key:\n- item` (sequence not indented) versus `key:\n  - item`.
  const flushSeq = /^(\s*)[^\s#-][^\n]*:\s*\n\1- /m.test(text)
  return {indent: Math.min(Math.max(indent, 2), 8), indentSeq: !flushSeq, lineWidth: 0, minContentWidth: 0}
}

type ParseResult = {ok: true; loaded: LoadedPlan} | {ok: false; issues: PlanIssue[]}

/** Parses, migrates and validates; collects every problem instead of stopping at the first. */
export function checkPlanText(text: string, file: string): ParseResult {
  const lc = new LineCounter()
  const doc = parseDocument(text, {lineCounter: lc, prettyErrors: false, uniqueKeys: true, keepSourceTokens: false})
  if (doc.errors.length > 0) {
    return {
      ok: false,
      issues: doc.errors.map((e) => {
        const pos = lc.linePos(e.pos[0])
        return {file, line: pos.line, col: pos.col, code: 'PLAN_YAML_SYNTAX', message: `YAML: ${e.message.split('\n')[0]}`}
      }),
    }
  }
  const migrated = migrate(doc.toJS({maxAliasCount: 50}))
  if (!migrated.ok) {
    const pos = positionOf(doc, lc, migrated.field === 'root' ? '' : `/${migrated.field}`)
    return {ok: false, issues: [{file, ...pos, code: 'PLAN_VERSION', message: migrated.message}]}
  }
  const issues = validatePlan(migrated.plan).map((i) => ({
    file,
    ...positionOf(doc, lc, i.pointer, i.key, i.needle ? {text, needle: i.needle} : undefined),
    code: i.code,
    message: i.message,
    pointer: i.key === undefined ? i.pointer : `${i.pointer}/${i.key}`,
  }))
  if (issues.length > 0) return {ok: false, issues: issues.sort((a, b) => a.line - b.line || a.col - b.col)}
  return {
    ok: true,
    loaded: {
      file,
      plan: migrated.plan as unknown as MigrationPlan,
      migratedFrom: migrated.from,
      doc,
      format: detectFormat(text),
      sha256: sha256(text),
      source: text,
    },
  }
}

export function parsePlan(text: string, file: string): LoadedPlan {
  const result = checkPlanText(text, file)
  if (!result.ok) throw new PlanInvalidError(file, result.issues)
  return result.loaded
}

export async function readPlanText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new CloudtaserError('PLAN_UNREADABLE', `cannot read plan ${file}: ${code ?? String(err)}`, {
      exitCode: ExitCode.USAGE,
      hint: code === 'ENOENT' ? 'Check the path; `cloudtaser target discover -o FILE` writes a new plan.' : undefined,
      cause: err,
    })
  }
}

export async function loadPlan(file: string): Promise<LoadedPlan> {
  return parsePlan(await readPlanText(file), file)
}

/** Renders a plan that has no file yet (discover's first run). */
export function renderPlan(plan: MigrationPlan): string {
  const doc = new Document(plan)
  return doc.toString({indent: 2, indentSeq: true, lineWidth: 0, minContentWidth: 0})
}

export interface SaveOptions {
  hooks?: AtomicWriteHooks
  /** Write to another path instead of the loaded file (discover --update -o OTHER). */
  file?: string
}

/**
 * Writes `next` over a loaded plan: validated first (an invalid plan is never written),
 * minimal edits to the YAML document, atomic replace. Returns the new loaded state.
 */
export async function savePlan(loaded: LoadedPlan, next: MigrationPlan, options: SaveOptions = {}): Promise<LoadedPlan> {
  const file = options.file ?? loaded.file
  const doc = loaded.doc.clone()
  syncDocument(doc, next)
  const text = keepFormatting(loaded.source, loaded.doc.toString(loaded.format), doc.toString(loaded.format))
  const reloaded = checkPlanText(text, file)
  if (!reloaded.ok) {
    throw new CloudtaserError('PLAN_WOULD_BE_INVALID', `refusing to write ${file}: the result would not be a valid plan`, {
      exitCode: ExitCode.INTERNAL,
      details: {issues: reloaded.issues},
    })
  }
  if (file === loaded.file) {
    const onDisk = await readFile(file, 'utf8').catch(() => undefined)
    if (onDisk !== undefined && sha256(onDisk) !== loaded.sha256) {
      throw new CloudtaserError('PLAN_CHANGED_ON_DISK', `${file} changed on disk since it was loaded; not overwriting it`, {
        exitCode: ExitCode.CONFLICT,
        hint: 'Someone else edited the plan. Re-run the command so it starts from the current file.',
      })
    }
  }
  await writeFileAtomic(file, text, options.hooks)
  return {...reloaded.loaded, format: loaded.format}
}

/** Writes a brand-new plan (no comments to keep). */
export async function writeNewPlan(file: string, plan: MigrationPlan, hooks?: AtomicWriteHooks): Promise<LoadedPlan> {
  const text = renderPlan(plan)
  const loaded = parsePlan(text, file)
  await writeFileAtomic(file, text, hooks)
  return loaded
}
