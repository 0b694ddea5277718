import type {Scalars} from './render.js'
import type {ContainerRef, FileMount, SecretMapping, SecretReference, Workload} from './types.generated.js'

/**
 * The YAML of one workload as PlanBuilder makes it, as a sequence item `level` deep: the text
 * render.ts (and js-yaml) writes for it, written by reading each known property directly. On
 * 10,000 workloads the general writer's cost is mostly in handling any object generically.
 *
 * For a valid workload (the schema admits no other keys) whose keys are in PlanBuilder's order,
 * which is the order below; undefined when it has a key this does not write (the general writer
 * then renders it). Scalars that need quoting go through `scalars` (js-yaml's styles); one it
 * cannot write throws Unrenderable. test/lib/plan/render.test.ts compares the output with
 * js-yaml's on random plans built by PlanBuilder.
 */
export function workloadYaml(w: Workload, level: number, scalars: Scalars): string | undefined {
  if (w.vanished !== undefined || w.note !== undefined) return undefined
  // Shapes this writer does not know go to the general writer.
  if (w.containers?.some((c) => c.expands !== undefined)) return undefined
  const s = scalars
  const nl = indent(level)
  const v = level + 1
  let out = `kind: ${s.text(w.kind, v)}${nl}name: ${s.text(w.name, v)}`
  if (w.serviceAccount !== undefined) out += `${nl}serviceAccount: ${s.text(w.serviceAccount, v)}`
  if (w.replicas !== undefined) out += `${nl}replicas: ${s.text(w.replicas, v)}`
  if (w.containers !== undefined) out += `${nl}containers:${list(w.containers, level + 1, (c) => container(c, level + 2, s))}`
  let secrets = ''
  for (const m of w.secrets) {
    const item = mapping(m, level + 2, s)
    if (item === undefined) return undefined
    secrets += `${indent(level + 1)}- ${item}`
  }
  out += `${nl}secrets:${secrets || ' []'}`
  const status = w.status
  if (Object.keys(status).length !== 1 || status.state === undefined) return undefined
  return `${out}${nl}status:${indent(level + 1)}state: ${s.text(status.state, level + 2)}`
}

const indents: string[] = []
const indent = (level: number): string => (indents[level] ??= `\n${' '.repeat(2 * level)}`)

/** A block sequence after its key (" []" when empty), items `level` deep. */
function list<T>(items: T[], level: number, item: (x: T) => string): string {
  if (items.length === 0) return ' []'
  let out = ''
  for (const x of items) out += `${indent(level)}- ${item(x)}`
  return out
}

function container(c: ContainerRef, level: number, s: Scalars): string {
  const nl = indent(level)
  const v = level + 1
  let out = `name: ${s.text(c.name, v)}`
  if (c.init !== undefined) out += `${nl}init: ${s.text(c.init, v)}`
  if (c.image !== undefined) out += `${nl}image: ${s.text(c.image, v)}`
  return out
}

function mapping(m: SecretMapping, level: number, s: Scalars): string | undefined {
  if (m.kvMount !== undefined || m.source.type !== undefined) return undefined
  if (m.references?.some((r) => r.remains !== undefined) || Object.values(m.fields ?? {}).some((f) => typeof f !== 'string')) return undefined
  const nl = indent(level)
  const inner = indent(level + 1)
  const v = level + 1
  let out = `source:${inner}name: ${s.text(m.source.name, v + 1)}`
  if (m.source.missing !== undefined) out += `${inner}missing: ${s.text(m.source.missing, v + 1)}`
  if (m.source.optional !== undefined) out += `${inner}optional: ${s.text(m.source.optional, v + 1)}`
  out += `${nl}vaultPath: ${s.text(m.vaultPath, v)}`
  if (m.fields !== undefined) {
    let fields = ''
    for (const key in m.fields) {
      const value = m.fields[key]
      if (value !== undefined) fields += `${inner}${s.key(key)}: ${s.text(value, v + 1)}`
    }
    out += `${nl}fields:${fields || ' {}'}`
  }
  if (m.envFrom !== undefined) out += m.envFrom.prefix === undefined ? `${nl}envFrom: {}` : `${nl}envFrom:${inner}prefix: ${s.text(m.envFrom.prefix, v + 1)}`
  if (m.files !== undefined) out += `${nl}files:${list(m.files, level + 1, (f) => file(f, level + 2, s))}`
  if (m.references !== undefined) out += `${nl}references:${list(m.references, level + 1, (r) => reference(r, level + 2, s))}`
  return out
}

function file(f: FileMount, level: number, s: Scalars): string {
  const nl = indent(level)
  const v = level + 1
  let out = `container: ${s.text(f.container, v)}`
  if (f.volume !== undefined) out += `${nl}volume: ${s.text(f.volume, v)}`
  out += `${nl}mountPath: ${s.text(f.mountPath, v)}`
  if (f.items !== undefined) out += `${nl}items:${list(f.items, level + 1, (i) => `key: ${s.text(i.key, level + 3)}${indent(level + 2)}path: ${s.text(i.path, level + 3)}`)}`
  if (f.deliverable !== undefined) out += `${nl}deliverable: ${s.text(f.deliverable, v)}`
  return out
}

function reference(r: SecretReference, level: number, s: Scalars): string {
  const nl = indent(level)
  const v = level + 1
  let out = `container: ${s.text(r.container, v)}`
  if (r.init !== undefined) out += `${nl}init: ${s.text(r.init, v)}`
  out += `${nl}type: ${s.text(r.type, v)}`
  if (r.env !== undefined) out += `${nl}env: ${s.text(r.env, v)}`
  if (r.key !== undefined) out += `${nl}key: ${s.text(r.key, v)}`
  if (r.prefix !== undefined) out += `${nl}prefix: ${s.text(r.prefix, v)}`
  if (r.volume !== undefined) out += `${nl}volume: ${s.text(r.volume, v)}`
  if (r.optional !== undefined) out += `${nl}optional: ${s.text(r.optional, v)}`
  if (r.index !== undefined) out += `${nl}index: ${s.text(r.index, v)}`
  return out
}
