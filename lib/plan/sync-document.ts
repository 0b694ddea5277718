import {isMap, isScalar, isSeq, Scalar, type Document, type Node, type Pair} from 'yaml'

type Plain = null | boolean | number | string | Plain[] | {[k: string]: Plain | undefined}

/**
 * Array items are matched by identity, not position, so that inserting a workload does not
 * rewrite (and lose the comments of) every workload after it.
 */
function identity(v: unknown): string | undefined {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined
  const o = v as Record<string, unknown>
  if (typeof o.name === 'string') return `${String(o.kind ?? '')}/${String(o.namespace ?? '')}/${o.name}`
  const source = o.source as Record<string, unknown> | undefined
  if (source && typeof source.name === 'string') return `secret/${source.name}`
  return undefined
}

function keyOf(pair: Pair): string | undefined {
  return isScalar(pair.key) ? String(pair.key.value) : undefined
}

/**
 * Makes `node` represent `next` while touching as little as possible: unchanged scalars keep
 * their style and comments, maps keep key order (new keys are appended), array items keep
 * their comments when their identity is unchanged.
 */
export function syncNode(doc: Document, node: unknown, next: Plain | undefined): Node {
  if (next === null || typeof next !== 'object') {
    if (isScalar(node)) {
      if (node.value !== next) node.value = next
      return node
    }
    return doc.createNode(next) as Node
  }
  if (Array.isArray(next)) {
    if (!isSeq(node)) return doc.createNode(next) as Node
    const old = node.items as unknown[]
    const byId = new Map<string, unknown>()
    for (const item of old) {
      const id = identity(isMap(item) ? (item.toJSON() as unknown) : undefined)
      if (id !== undefined && !byId.has(id)) byId.set(id, item)
    }
    node.items = next.map((v, i) => {
      const id = identity(v)
      const match = id === undefined ? old[i] : byId.get(id)
      return syncNode(doc, match, v)
    })
    return node
  }
  if (!isMap(node)) return doc.createNode(next) as Node
  const wanted = Object.entries(next).filter(([, v]) => v !== undefined) as Array<[string, Plain]>
  const keep = new Set(wanted.map(([k]) => k))
  node.items = node.items.filter((p) => {
    const k = keyOf(p)
    return k !== undefined && keep.has(k)
  })
  for (const [k, v] of wanted) {
    const pair = node.items.find((p) => keyOf(p) === k)
    if (pair) {
      pair.value = syncNode(doc, pair.value, v)
    } else {
      node.items.push(doc.createPair(new Scalar(k), v) as Pair)
    }
  }
  return node
}

export function syncDocument(doc: Document, next: unknown): void {
  doc.contents = syncNode(doc, doc.contents, next as Plain) as typeof doc.contents
}
