import {createHash} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import jsyaml from 'js-yaml'
import {LineCounter, parseDocument, type Document, type ToStringOptions} from 'yaml'
import {CloudtaserError, ExitCode} from '../errors.js'
import {writeFileAtomic, type AtomicWriteHooks} from './atomic-write.js'
import {PlanInvalidError, type PlanIssue} from './issues.js'
import {keepFormatting} from './keep-formatting.js'
import {positionOf} from './locate.js'
import {migrate} from './migrate.js'
import {syncDocument} from './sync-document.js'
import type {MigrationPlan} from './types.generated.js'
import {validatePlan} from './validate.js'

export {renderPlan, writeNewPlan} from './new-plan.js'

/**
 * With new-plan.ts (a plan's first write, kept apart so that discover does not load the `yaml`
 * library), the only module that reads or writes plan YAML. Everything else works on typed plans.
 *
 * Two parsers, on purpose: js-yaml (about ten times faster) reads values on the hot path of
 * every command; the `yaml` library, which keeps comments and source positions, is used only
 * to locate errors and to save. Both read YAML 1.2's core schema; a value the two could read
 * differently never reaches disk unchecked, because every save is re-read and re-validated.
 */
export interface LoadedPlan {
  readonly file: string
  readonly plan: MigrationPlan
  /** apiVersion the file had before migration. */
  readonly migratedFrom: string
  /** Hash of the bytes on disk when loaded: a save refuses to overwrite someone else's edit. */
  readonly sha256: string
  /** The file's bytes when loaded, so untouched lines are written back verbatim. */
  readonly source: string
  /** Parsed lazily and reused across saves; see savePlan. */
  readonly cache: {doc?: Document; rendered?: string; format?: ToStringOptions}
}

const sha256 = (text: string | Uint8Array): string => createHash('sha256').update(text).digest('hex')

/** Matches how the file indents, so that re-serialising leaves untouched lines as they were. */
function detectFormat(text: string): ToStringOptions {
  const indent = /^( +)\S/m.exec(text)?.[1]?.length ?? 2
  // `key:\n- item` (sequence not indented) versus `key:\n  - item`.
  const flushSeq = /^(\s*)[^\s#-][^\n]*:\s*\n\1- /m.test(text)
  return {indent: Math.min(Math.max(indent, 2), 8), indentSeq: !flushSeq, lineWidth: 0, minContentWidth: 0}
}

type ParseResult = {ok: true; loaded: LoadedPlan} | {ok: false; issues: PlanIssue[]}

function fastRead(text: string): unknown | undefined {
  try {
    return jsyaml.load(text, {schema: jsyaml.CORE_SCHEMA, json: false})
  } catch {
    return undefined
  }
}

/** Parses, migrates and validates; collects every problem instead of stopping at the first. */
export function checkPlanText(text: string, file: string): ParseResult {
  const value = fastRead(text)
  if (value !== undefined) {
    const migrated = migrate(value)
    if (migrated.ok && validatePlan(migrated.plan).length === 0) {
      const plan = migrated.plan as unknown as MigrationPlan
      return {ok: true, loaded: {file, plan, migratedFrom: migrated.from, sha256: sha256(text), source: text, cache: {}}}
    }
  }
  return {ok: false, issues: locateIssues(text, file)}
}

/** The slow path: the `yaml` library with a LineCounter turns every problem into file:line:col. */
function locateIssues(text: string, file: string): PlanIssue[] {
  const lc = new LineCounter()
  const doc = parseDocument(text, {lineCounter: lc, prettyErrors: false, uniqueKeys: true})
  if (doc.errors.length > 0) {
    return doc.errors.map((e) => {
      const pos = lc.linePos(e.pos[0])
      return {file, line: pos.line, col: pos.col, code: 'PLAN_YAML_SYNTAX', message: `YAML: ${e.message.split('\n')[0]}`}
    })
  }
  const migrated = migrate(doc.toJS({maxAliasCount: 50}))
  if (!migrated.ok) {
    const pos = positionOf(doc, lc, migrated.field === 'root' ? '' : `/${migrated.field}`)
    return [{file, ...pos, code: 'PLAN_VERSION', message: migrated.message}]
  }
  const issues = validatePlan(migrated.plan).map((i) => ({
    file,
    ...positionOf(doc, lc, i.pointer, i.key, i.needle ? {text, needle: i.needle} : undefined),
    code: i.code,
    message: i.message,
    pointer: i.key === undefined ? i.pointer : `${i.pointer}/${i.key}`,
  }))
  if (issues.length === 0) {
    // The fast reader refused what `yaml` accepts (or read it differently): refuse rather than guess.
    return [{file, line: 1, col: 1, code: 'PLAN_YAML_AMBIGUOUS', message: 'YAML constructs this tool does not accept (anchors, tags or merge keys?)'}]
  }
  return issues.sort((a, b) => a.line - b.line || a.col - b.col)
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

export interface SaveOptions {
  hooks?: AtomicWriteHooks
  /** Write to another path instead of the loaded file (discover --update -o OTHER). */
  file?: string
}

/**
 * Writes `next` over a loaded plan: minimal edits to the YAML document, untouched lines kept
 * byte for byte, the result re-read and validated (an invalid plan is never written), atomic
 * replace. Returns the new state; `loaded` must not be saved again (its document moved on), which
 * lets a run that saves after every workload parse the file once instead of once per save.
 */
export async function savePlan(loaded: LoadedPlan, next: MigrationPlan, options: SaveOptions = {}): Promise<LoadedPlan> {
  const file = options.file ?? loaded.file
  const cache = loaded.cache
  const format = (cache.format ??= detectFormat(loaded.source))
  const doc = (cache.doc ??= parseDocument(loaded.source, {uniqueKeys: true}))
  const before = (cache.rendered ??= doc.toString(format))
  syncDocument(doc, next)
  const rendered = doc.toString(format)
  const text = keepFormatting(loaded.source, before, rendered)
  const reread = checkPlanText(text, file)
  if (!reread.ok) {
    // The document now holds the rejected change: drop it so a retry starts from the file.
    delete cache.doc
    delete cache.rendered
    throw new CloudtaserError('PLAN_WOULD_BE_INVALID', `refusing to write ${file}: the result would not be a valid plan`, {
      exitCode: ExitCode.INTERNAL,
      details: {issues: reread.issues},
    })
  }
  if (file === loaded.file) {
    const onDisk = await readFile(file, 'utf8').catch(() => undefined)
    if (onDisk !== undefined && sha256(onDisk) !== loaded.sha256) {
      delete cache.doc
      delete cache.rendered
      throw new CloudtaserError('PLAN_CHANGED_ON_DISK', `${file} changed on disk since it was loaded; not overwriting it`, {
        exitCode: ExitCode.CONFLICT,
        hint: 'Someone else edited the plan. Re-run the command so it starts from the current file.',
      })
    }
  }
  await writeFileAtomic(file, text, options.hooks)
  return {...reread.loaded, cache: {doc, rendered, format}}
}
