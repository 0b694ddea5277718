import {diffArrays} from 'diff'

/**
 * The yaml library keeps comments and key order but re-renders every line in its own style
 * (one space before `#`, `{ a: b }` padding, a blank line before a trailing comment, ...).
 * Reviewers' diffs must show only real change, so untouched lines are taken verbatim from the
 * file on disk. `before` is the unmodified document as yaml renders it, `after` the modified one.
 * Source lines are aligned with `before` by shape (indentation and key); lines of `after` that
 * equal a line of `before` are replaced by the aligned source line. When the two do not align
 * (e.g. a flow collection spread over several lines) the yaml rendering is used as is.
 */
export function keepFormatting(source: string, before: string, after: string): string {
  if (source === before) return after
  const src = source.split('\n')
  const old = before.split('\n')
  const aligned = align(src, old)
  if (!aligned) return after

  const out: string[] = []
  let nextSrc = 0
  const emitSourceUpTo = (i: number): void => {
    // Source-only lines (blank lines the renderer dropped) travel with the line after them.
    for (; nextSrc < i; nextSrc++) if (aligned.sourceOnly.has(nextSrc)) out.push(src[nextSrc]!)
    nextSrc = i + 1
  }
  let j = 0
  let removed: number[] = []
  for (const change of diffArrays(old, after.split('\n'))) {
    if (change.removed) {
      removed = []
      for (let k = 0; k < change.count; k++, j++) {
        const i = aligned.toSource[j]
        if (i !== undefined) {
          removed.push(i)
          nextSrc = Math.max(nextSrc, i + 1)
        }
      }
    } else if (change.added) {
      change.value.forEach((line, k) => {
        const was = removed[k]
        out.push(was === undefined ? line : keepCommentSpacing(src[was]!, line))
      })
      removed = []
    } else {
      for (let k = 0; k < change.count; k++, j++) {
        const i = aligned.toSource[j]
        if (i === undefined) continue
        emitSourceUpTo(i)
        out.push(src[i]!)
      }
      removed = []
    }
  }
  emitSourceUpTo(src.length)
  return out.join('\n')
}

const indent = (l: string): number => l.length - l.trimStart().length

function shape(line: string): string {
  const t = line.trim()
  if (t === '') return ''
  if (t.startsWith('#')) return `${indent(line)}${t}`
  const token = t.replace(/^- /, '').split(/[:\s#]/)[0]!.replace(/^['"]|['"]$/g, '')
  return `${indent(line)}|${token}`
}

interface Alignment {
  /** before-line index -> source-line index; undefined for lines only the renderer produced. */
  toSource: Array<number | undefined>
  sourceOnly: Set<number>
}

function align(src: string[], old: string[]): Alignment | undefined {
  const toSource: Array<number | undefined> = []
  const sourceOnly = new Set<number>()
  let i = 0
  for (const change of diffArrays(src.map(shape), old.map(shape))) {
    if (change.removed) {
      for (const s of change.value) {
        if (s !== '') return undefined
        sourceOnly.add(i++)
      }
    } else if (change.added) {
      for (const s of change.value) {
        if (s !== '') return undefined
        toSource.push(undefined)
      }
    } else {
      for (let k = 0; k < change.count; k++) toSource.push(i++)
    }
  }
  return {toSource, sourceOnly}
}

/** A changed line keeps the original's spacing before its trailing comment. */
function keepCommentSpacing(original: string, changed: string): string {
  const was = /(\s+)(#.*)$/.exec(original)
  const now = /(\s+)(#.*)$/.exec(changed)
  if (!was || !now || was[2] !== now[2]) return changed
  return changed.slice(0, now.index) + was[1] + was[2]
}
