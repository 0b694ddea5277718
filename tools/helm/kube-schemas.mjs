#!/usr/bin/env node
// Writes kubeconform's schemas for one Kubernetes release, offline, from the OpenAPI v2 document
// that ships inside the k8s.io/kubernetes Go module (api/openapi-spec/swagger.json): the same
// document the release's kube-apiserver serves at /openapi/v2. build.sh takes the module from
// test/env's go.mod, so the schemas match the lab's apiserver version.
//
//   node kube-schemas.mjs SWAGGER_JSON OUT_DIR
//
// Output: OUT_DIR/<kind>[-<group>]-<version>.json, the names kubeconform derives from a resource
// (its KindSuffix: the group's first label, e.g. deployment-apps-v1, pod-v1). Like the
// "standalone-strict" flavour people download (made by openapi2jsonschema --kubernetes
// --stand-alone --strict), with three deliberate differences:
// - references stay references, to a `definitions` section inside each file holding only what
//   that kind reaches: still one self-contained file per kind, and recursive definitions
//   (JSONSchemaProps) need no cut-off;
// - strict (additionalProperties: false) is applied by walking schema keywords, not every object
//   that happens to have a key named "properties" (openapi2jsonschema's walk also writes into a
//   properties map that has a property called "properties");
// - optional fields do not accept null. A null in rendered chart output is almost always a
//   template mistake (an empty value), so we want it reported.
import {mkdirSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

const [swaggerPath, outDir] = process.argv.slice(2)
if (!swaggerPath || !outDir) {
  process.stderr.write('usage: node kube-schemas.mjs SWAGGER_JSON OUT_DIR\n')
  process.exit(2)
}
const swagger = JSON.parse(readFileSync(swaggerPath, 'utf8'))
const defs = swagger.definitions
if (!defs || typeof defs !== 'object') throw new Error(`${swaggerPath}: no definitions`)

const REF = '#/definitions/'
// Kubernetes marks these as type string with a format; the apiserver accepts numbers too.
defs['io.k8s.apimachinery.pkg.util.intstr.IntOrString'] = {oneOf: [{type: 'string'}, {type: 'integer'}]}
defs['io.k8s.apimachinery.pkg.api.resource.Quantity'] = {oneOf: [{type: 'string'}, {type: 'number'}]}

/** Every schema directly under `s` (draft 4 keywords that hold schemas), with a setter. */
function* children(s) {
  if (s.properties) for (const k of Object.keys(s.properties)) yield s.properties[k]
  if (s.additionalProperties && typeof s.additionalProperties === 'object') yield s.additionalProperties
  if (s.items) yield* Array.isArray(s.items) ? s.items : [s.items]
  for (const k of ['allOf', 'anyOf', 'oneOf']) if (Array.isArray(s[k])) yield* s[k]
  if (s.not) yield s.not
}

/** Names of the definitions `s` refers to, directly. */
function refsOf(s, out = new Set()) {
  if (typeof s.$ref === 'string' && s.$ref.startsWith(REF)) out.add(s.$ref.slice(REF.length))
  for (const c of children(s)) refsOf(c, out)
  return out
}

/** additionalProperties: false on every object schema that lists its properties and says nothing else. */
function strict(s) {
  if (s.properties && s.additionalProperties === undefined) s.additionalProperties = false
  for (const c of children(s)) strict(c)
  return s
}

const reachable = (name) => {
  const seen = new Set()
  const todo = [name]
  while (todo.length) {
    const n = todo.pop()
    if (seen.has(n)) continue
    if (!defs[n]) throw new Error(`${swaggerPath}: ${n} is referenced but not defined`)
    seen.add(n)
    todo.push(...refsOf(defs[n]))
  }
  return seen
}

const tmp = `${outDir}.tmp.${process.pid}`
rmSync(tmp, {recursive: true, force: true})
mkdirSync(tmp, {recursive: true})
let written = 0
for (const [name, def] of Object.entries(defs)) {
  const gvks = def['x-kubernetes-group-version-kind']
  // Meta types (DeleteOptions, WatchEvent, ...) carry one entry per API group: not objects anyone applies.
  if (!Array.isArray(gvks) || gvks.length !== 1) continue
  const {group, version, kind} = gvks[0]
  const file = [kind, ...(group ? [group.split('.')[0]] : []), version].join('-').toLowerCase()
  const schema = strict(structuredClone(def))
  // The whole closure, the kind itself included (for any definition that refers back to it).
  const closure = [...reachable(name)].sort()
  if (closure.length > 1 || refsOf(def).has(name)) schema.definitions = Object.fromEntries(closure.map((n) => [n, strict(structuredClone(defs[n]))]))
  writeFileSync(join(tmp, `${file}.json`), `${JSON.stringify({$schema: 'http://json-schema.org/draft-04/schema#', ...schema})}\n`)
  written++
}
if (written < 50) throw new Error(`${swaggerPath}: only ${written} kinds found`)
rmSync(outDir, {recursive: true, force: true})
renameSync(tmp, outDir)
process.stdout.write(`${written} schemas in ${outDir}\n`)
