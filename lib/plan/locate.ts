import {isMap, isNode, isPair, isScalar, isSeq, type Document, type LineCounter, type Node} from 'yaml'

export interface Position {
  line: number
  col: number
}

const segments = (pointer: string): string[] =>
  pointer === '' ? [] : pointer.slice(1).split('/').map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'))

/**
 * Finds the YAML node a JSON pointer names. With `key` set, returns the key node of the
 * last segment instead of its value, which is where an editor should point for a bad key.
 */
export function nodeAt(doc: Document, pointer: string, key?: string): Node | undefined {
  let node: unknown = doc.contents
  for (const seg of segments(pointer)) {
    if (isMap(node)) {
      node = node.items.find((p) => isScalar(p.key) && String(p.key.value) === seg)?.value
    } else if (isSeq(node)) {
      node = node.items[Number(seg)]
    } else {
      return undefined
    }
  }
  if (key !== undefined && isMap(node)) {
    const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === key)
    if (pair && isNode(pair.key)) return pair.key
  }
  return isNode(node) ? node : undefined
}

/**
 * Line and column (1-based) of the deepest node along the pointer that exists in the document.
 * With a needle, points at the needle inside the node's source text (a line of a block scalar).
 */
export function positionOf(doc: Document, lc: LineCounter, pointer: string, key?: string, source?: {text: string; needle: string}): Position {
  if (source) {
    const range = nodeAt(doc, pointer)?.range
    const at = range ? source.text.slice(range[0], range[1]).indexOf(source.needle.slice(0, 24)) : -1
    if (range && at >= 0) return lc.linePos(range[0] + at)
  }
  let p = pointer
  for (;;) {
    const node = nodeAt(doc, p, key)
    if (node?.range) return lc.linePos(node.range[0])
    if (p === '') return {line: 1, col: 1}
    p = p.slice(0, p.lastIndexOf('/'))
    key = undefined
  }
}
