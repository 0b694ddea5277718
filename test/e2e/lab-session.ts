// A lab with a node and cloudtaser installed as the demo installs it (lab up, images, connect,
// source configure, target install), for the end-to-end files; the CLI and kubectl as child
// processes, as users run them. One lab per file: each file pays for its own node.
import type {Test} from 'tap'
import {spawnSync, type SpawnSyncReturns} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

export const root = join(import.meta.dirname, '..', '..')

export interface LabSession {
  work: string
  env: NodeJS.ProcessEnv
  labEnv: Record<string, string>
  /** `lab images --json`: refs as name:tag, pulled as cloudtaser.lab/<ref>. */
  images: Array<{name: string; ref: string}>
  installArgs: string[]
  run(cmd: string, args: string[], o?: {input?: string; allowFail?: boolean}): SpawnSyncReturns<string>
  cli(args: string[], o?: {input?: string; allowFail?: boolean}): SpawnSyncReturns<string>
  kubectl(args: string[], o?: {input?: string; allowFail?: boolean}): SpawnSyncReturns<string>
}

/**
 * `install: false` stops after lab up and images: the caller connects and installs its own way
 * (beacon mode). `set`: more chart values for `target install` (e.g. `ebpf.enabled=false` where
 * the agent is not under test: the install then waits for less).
 */
export function startLabSession(t: Test, name: string, actor: string, {install = true, set = []}: {install?: boolean; set?: string[]} = {}): LabSession {
  const work = mkdtempSync(join(tmpdir(), `cloudtaser-${name}-`))
  const env: NodeJS.ProcessEnv = {...process.env, CLOUDTASER_ACTOR: actor, CLOUDTASER_LAB_DIR: join(work, 'lab')}
  let labUp = false
  t.teardown(() => {
    if (labUp) spawnSync(process.execPath, [join(root, 'bin/run.js'), 'lab', 'down'], {cwd: work, env, stdio: 'ignore'})
    rmSync(work, {recursive: true, force: true})
  })
  const run: LabSession['run'] = (cmd, args, {input, allowFail = false} = {}) => {
    const r = spawnSync(cmd, args, {cwd: work, env, encoding: 'utf8', input, maxBuffer: 64 << 20})
    if (r.status !== 0 && !allowFail) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}\n${r.stdout}${r.stderr}`)
    return r
  }
  const cli: LabSession['cli'] = (args, o) => run(process.execPath, [join(root, 'bin/run.js'), ...args], o)
  const kubectl: LabSession['kubectl'] = (args, o) => run(join(env.CLOUDTASER_LAB_DIR!, 'bin/kubectl'), args, o)
  labUp = true
  cli(['lab', 'up'])
  const labEnv = JSON.parse(cli(['lab', 'env', '--json']).stdout) as Record<string, string>
  Object.assign(env, {KUBECONFIG: labEnv.KUBECONFIG, BAO_ADDR: labEnv.BAO_ADDR, BAO_TOKEN: labEnv.BAO_TOKEN, PATH: `${labEnv.PATH_PREPEND}:${env.PATH}`})
  const images = (JSON.parse(cli(['lab', 'images', '--json']).stdout) as {images: Array<{name: string; ref: string}>}).images
  if (!install) return {work, env, labEnv, images, installArgs: [], run, cli, kubectl}
  // As the demo: OpenBao's Kubernetes auth for this cluster and the operator's own policy and role
  // first (its webhook material lives in OpenBao); one operator replica keeps the tests light.
  cli(['target', 'connect'])
  cli(['source', 'configure'])
  const installArgs = ['target', 'install', '--vault-address', labEnv.BAO_ADDR!, '--set', 'operator.ha=false', '--set', 'operator.replicas=1', '--set', `operator.registryMirrors[0]=cloudtaser.lab=http://${labEnv.CLOUDTASER_LAB_REGISTRY}`, '--set', 'ebpf.bpffsMountPropagation=None', ...set.flatMap((v) => ['--set', v]), '--wait', '--timeout', '3m']
  cli(installArgs)
  return {work, env, labEnv, images, installArgs, run, cli, kubectl}
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 180_000): Promise<T> {
  for (const end = Date.now() + timeoutMs; ; await sleep(500)) {
    const v = await check()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
  }
}

/**
 * A Secret `db` and a Deployment `app` that reads its `password` as DB_PASSWORD and prints its
 * SHA-256 (`digest <hex>`): before protect from the Secret, after from OpenBao, never the value.
 */
export const digestApp = (namespace: string, image: string, password: string) => [
  {apiVersion: 'v1', kind: 'Secret', metadata: {name: 'db', namespace}, stringData: {password}},
  {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {name: 'app', namespace},
    spec: {
      replicas: 1,
      selector: {matchLabels: {app: 'app'}},
      template: {
        metadata: {labels: {app: 'app'}},
        spec: {containers: [{name: 'app', image, command: ['/bin/sh', '-c', 'echo "digest $(printf %s "$DB_PASSWORD" | sha256sum | cut -d" " -f1)"; exec sleep 3600'], env: [{name: 'DB_PASSWORD', valueFrom: {secretKeyRef: {name: 'db', key: 'password'}}}]}]},
      },
    },
  },
]
