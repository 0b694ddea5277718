// Shared by the chart tests: helm and kubeconform from tools/helm/build.sh (built once, cached in
// .cache/helm-tools), rendering charts/cloudtaser with given values, and picking objects out.
import {execFile, execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'
import jsyaml from 'js-yaml'

const run = promisify(execFile)

export const root = fileURLToPath(new URL('../..', import.meta.url))
export const chartDir = join(root, 'charts', 'cloudtaser')
export const NAMESPACE = 'cloudtaser-system'

const toolsDir = execFileSync('bash', [join(root, 'tools', 'helm', 'build.sh')], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit']}).trim()
export const helmBin = join(toolsDir, 'helm')
export const kubeconformBin = join(toolsDir, 'kubeconform')
/** The lab's Kubernetes release (test/env/go.mod), whose schemas build.sh generated. */
export const kubeVersion = /^\s*k8s\.io\/kubernetes (v\S+)/m.exec(readFileSync(join(root, 'test', 'env', 'go.mod'), 'utf8'))![1]!
export const schemaDir = join(toolsDir, 'schemas')

// helm keeps caches and repository config under HOME by default: a private place per test process.
const helmHome = mkdtempSync(join(tmpdir(), 'cloudtaser-helm-'))
process.on('exit', () => rmSync(helmHome, {recursive: true, force: true}))
const helmEnv = {...process.env, HELM_CACHE_HOME: join(helmHome, 'cache'), HELM_CONFIG_HOME: join(helmHome, 'config'), HELM_DATA_HOME: join(helmHome, 'data')}

export interface K8sObject {
  apiVersion: string
  kind: string
  metadata: {name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>}
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- rendered objects of many kinds, checked field by field
  [field: string]: any
}

export interface Result {
  code: number
  stdout: string
  stderr: string
}

async function exec(bin: string, args: string[], env = helmEnv): Promise<Result> {
  try {
    const {stdout, stderr} = await run(bin, args, {env, maxBuffer: 16 << 20})
    return {code: 0, stdout, stderr}
  } catch (err) {
    const e = err as {code?: number; stdout?: string; stderr?: string}
    return {code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err)}
  }
}

/** A values file in a fresh temp dir (JSON is YAML). */
export function valuesFile(values: object): string {
  const dir = mkdtempSync(join(helmHome, 'values-'))
  const file = join(dir, 'values.yaml')
  writeFileSync(file, JSON.stringify(values))
  return file
}

export const helm = (args: string[]) => exec(helmBin, args)
/** helm with extra environment (KUBECONFIG for a real install). */
export const helmIn = (env: Record<string, string>, args: string[]) => exec(helmBin, args, {...helmEnv, ...env})

export const lint = (values: object = {}) => helm(['lint', '--strict', chartDir, '-f', valuesFile(values)])

export interface Rendering {
  text: string
  objects: K8sObject[]
}

/** `helm template` as `helm install cloudtaser -n cloudtaser-system` would render it. */
/** What every install must say: where OpenBao is (the operator keeps its webhook material there). */
export const BASE_VALUES = {operator: {vaultAddress: 'https://openbao.example.eu:8200'}}

export async function render(values: object = {}): Promise<Rendering> {
  const r = await helm(['template', 'cloudtaser', chartDir, '-n', NAMESPACE, '--kube-version', kubeVersion.slice(1), '-f', valuesFile(BASE_VALUES), '-f', valuesFile(values)])
  if (r.code !== 0) throw new Error(`helm template failed: ${r.stderr.trim()}`)
  const objects = jsyaml.loadAll(r.stdout).filter((o): o is K8sObject => o !== null && typeof o === 'object')
  return {text: r.stdout, objects}
}

/** The NOTES.txt `helm install` prints, rendered client-side (no cluster contacted). */
export async function notes(values: object = {}): Promise<string> {
  const r = await helm(['install', 'cloudtaser', chartDir, '-n', NAMESPACE, '--dry-run=client', '-f', valuesFile(BASE_VALUES), '-f', valuesFile(values)])
  if (r.code !== 0) throw new Error(`helm install --dry-run=client failed: ${r.stderr.trim()}`)
  return r.stdout.split('\nNOTES:\n')[1] ?? ''
}

/** helm template's error for values the chart must refuse. */
export async function renderError(values: object): Promise<string> {
  const r = await helm(['template', 'cloudtaser', chartDir, '-n', NAMESPACE, '-f', valuesFile(BASE_VALUES), '-f', valuesFile(values)])
  if (r.code === 0) throw new Error('helm template accepted values it should refuse')
  return r.stderr
}

/** kubeconform -strict against the generated schemas of the lab's release; the manifest text on stdin. */
export async function kubeconform(text: string): Promise<Result & {summary?: {valid: number; invalid: number; errors: number; skipped: number}}> {
  const dir = mkdtempSync(join(helmHome, 'kc-'))
  const file = join(dir, 'manifest.yaml')
  writeFileSync(file, text)
  const r = await exec(kubeconformBin, ['-strict', '-summary', '-output', 'json', '-kubernetes-version', kubeVersion.slice(1), '-schema-location', schemaDir, file])
  let summary
  try {
    summary = (JSON.parse(r.stdout) as {summary?: {valid: number; invalid: number; errors: number; skipped: number}}).summary
  } catch {
    // not JSON: the caller sees stdout
  }
  return {...r, summary}
}

export const byKind = (objects: K8sObject[], kind: string): K8sObject[] => objects.filter((o) => o.kind === kind)

export function one(objects: K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name))
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`)
  return found[0]!
}

/** `--name=value` arguments of a container as [name, value] pairs, in order. */
export const flagPairs = (args: string[]): Array<[string, string]> =>
  args.filter((a) => a.startsWith('--')).map((a) => {
    const i = a.indexOf('=')
    return i < 0 ? [a.slice(2), ''] : [a.slice(2, i), a.slice(i + 1)]
  })
