import {existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {homedir} from 'node:os'
import {join, resolve} from 'node:path'
import {CloudtaserError, ExitCode} from '../errors.js'
import {ensureBinary} from './binary.js'
import {labError} from './errors.js'
import {startLab} from './lab.js'
import {readRecords, teardownNode} from './node-net.js'
import {baoBinary} from './paths.js'
import {groupAlive, stopGroup} from './process.js'

/**
 * `cloudtaser lab up|env|down`: the same servers as the test harness, started as daemons that
 * outlive the CLI, with everything (PKI, etcd data, logs, kubeconfig, state.json) in one
 * directory that `lab down` removes.
 */
export interface LabState {
  version: 1
  startedAt: string
  stateDir: string
  kubeconfigPath: string
  server: string
  baoAddr: string
  baoToken: string
  /** kubectl and bao for a shell: `lab env` puts it first on PATH. */
  binDir: string
  processes: Array<{name: string; pid: number; log: string}>
  readyMs: number
  /** With a node (the default; `lab up --no-node` leaves it out). */
  node?: {name: string; registry: string; netns: string; hostIp: string; nodeIp: string; podCidr: string; serviceCidr: string}
}

/** $CLOUDTASER_LAB_DIR, else $XDG_STATE_HOME/cloudtaser/lab (~/.local/state/cloudtaser/lab). */
export function defaultStateDir(): string {
  if (process.env.CLOUDTASER_LAB_DIR) return resolve(process.env.CLOUDTASER_LAB_DIR)
  const base = process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state')
  return join(base, 'cloudtaser', 'lab')
}

const statePath = (stateDir: string) => join(stateDir, 'state.json')

export function readState(stateDir = defaultStateDir()): LabState | undefined {
  try {
    return JSON.parse(readFileSync(statePath(stateDir), 'utf8')) as LabState
  } catch {
    return undefined
  }
}

/** A recorded pid counts only while it is still one of our servers (pids get reused). */
function ours(pid: number, stateDir: string): boolean {
  try {
    // Every server runs with its working directory inside the state directory.
    return groupAlive(pid) && `${readlinkSync(`/proc/${pid}/cwd`)}/`.startsWith(`${stateDir}/`)
  } catch {
    return false
  }
}

/** Our servers (bao, cloudtaser-controlplane) running inside stateDir, named by subcommand. */
function serversIn(stateDir: string): Array<{name: string; pid: number}> {
  const found: Array<{name: string; pid: number}> = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const pid = Number(entry)
    if (pid === process.pid || !ours(pid, stateDir)) continue
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
    // Only our servers: never, say, a shell that happens to sit in the state directory.
    if (argv[0]?.endsWith('/bao')) found.push({name: 'bao', pid})
    else if (argv[0]?.endsWith('/cloudtaser-controlplane')) found.push({name: argv[1] ?? 'cloudtaser-controlplane', pid})
  }
  return found
}

export function running(state: LabState): boolean {
  return state.processes.every((p) => ours(p.pid, state.stateDir))
}

export interface LabUpOptions {
  log?: (line: string) => void
  /** Start a node (default true). */
  node?: boolean
}

export async function labUp(stateDir = defaultStateDir(), options: LabUpOptions = {}): Promise<LabState> {
  const existing = readState(stateDir)
  if (existing && running(existing)) {
    throw new CloudtaserError('LAB_ALREADY_RUNNING', `a lab is already running (state in ${stateDir})`, {
      exitCode: ExitCode.CONFLICT,
      hint: 'Use it (`eval "$(cloudtaser lab env)"`) or stop it first with `cloudtaser lab down`.',
    })
  }
  if (existsSync(stateDir)) await labDown(stateDir) // a crashed or half-stopped lab
  mkdirSync(stateDir, {recursive: true, mode: 0o700})
  stateDir = realpathSync(stateDir) // /proc/PID/cwd, which ours() compares with, is resolved too
  const bin = await ensureBinary({log: options.log})
  const lab = await startLab({
    controlPlane: {dir: join(stateDir, 'kubernetes'), daemon: true},
    openBao: {dir: join(stateDir, 'openbao'), daemon: true},
    ...(options.node === false ? {} : {node: {dir: join(stateDir, 'node'), daemon: true}}),
  })
  try {
    const binDir = join(stateDir, 'bin')
    mkdirSync(binDir, {recursive: true})
    symlinkSync(bin, join(binDir, 'kubectl'))
    symlinkSync(baoBinary(), join(binDir, 'bao'))
    const state: LabState = {
      version: 1,
      startedAt: new Date().toISOString(),
      stateDir,
      kubeconfigPath: lab.kubeconfigPath,
      server: lab.controlPlane.server,
      baoAddr: lab.baoAddr,
      baoToken: lab.baoToken,
      binDir,
      processes: [...lab.controlPlane.processes, lab.openBao.process, ...(lab.node?.processes ?? [])].map((p) => ({name: p.name, pid: p.pid, log: p.logPath})),
      readyMs: lab.readyMs,
      ...(lab.node
        ? {
            node: {
              name: lab.node.name,
              registry: lab.node.registry,
              netns: lab.node.network.netns,
              hostIp: lab.node.network.hostIp,
              nodeIp: lab.node.network.nodeIp,
              podCidr: lab.node.network.podCidr,
              serviceCidr: lab.node.network.serviceCidr,
            },
          }
        : {}),
    }
    writeFileSync(statePath(stateDir), `${JSON.stringify(state, null, 2)}\n`, {mode: 0o600})
    return state
  } catch (err) {
    await lab.stop()
    rmSync(stateDir, {recursive: true, force: true})
    throw err
  }
}

const shellQuote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`

/** The `export` lines for a POSIX shell: `eval "$(cloudtaser lab env)"`. */
export function envLines(state: LabState): string[] {
  return [
    `export KUBECONFIG=${shellQuote(state.kubeconfigPath)}`,
    `export BAO_ADDR=${shellQuote(state.baoAddr)}`,
    `export BAO_TOKEN=${shellQuote(state.baoToken)}`,
    ...(state.node ? [`export CLOUDTASER_LAB_REGISTRY=${shellQuote(state.node.registry)}`] : []),
    `export PATH=${shellQuote(state.binDir)}:"$PATH"`,
  ]
}

export function requireRunning(stateDir = defaultStateDir()): LabState {
  const state = readState(stateDir)
  if (!state) {
    throw labError('NOT_RUNNING', `no lab is running (no ${statePath(stateDir)})`, 'Start one with `cloudtaser lab up`.')
  }
  if (!running(state)) {
    const dead = state.processes.filter((p) => !ours(p.pid, state.stateDir)).map((p) => p.name)
    throw labError('NOT_RUNNING', `the lab in ${stateDir} is broken: ${dead.join(', ')} not running`, 'Run `cloudtaser lab down` and `cloudtaser lab up` again; logs are in the state directory until then.')
  }
  return state
}

export interface DownResult {
  stateDir: string
  stopped: string[]
  removed: boolean
  /** What the node's teardown could not remove (none expected). */
  problems?: string[]
}

/** Stops every recorded server and removes the state directory; a no-op when nothing is there. */
export async function labDown(stateDir = defaultStateDir()): Promise<DownResult> {
  const stopped: string[] = []
  const problems: string[] = []
  if (existsSync(stateDir)) {
    // The node first: its kubelet must not restart Pods while the CRI removes them.
    const real = realpathSync(stateDir)
    for (const record of readRecords().filter((r) => r.dir.startsWith(`${real}/`))) {
      problems.push(...(await teardownNode(record)))
      stopped.push(`node ${record.netns}`)
    }
    // Found by working directory, not only from state.json: a `lab up` interrupted before it
    // wrote the state still leaves servers behind in the directory.
    const live = serversIn(realpathSync(stateDir))
    const stopAll = (names: (n: string) => boolean) => Promise.all(live.filter((p) => names(p.name)).map((p) => stopGroup(p.pid).then(() => stopped.push(p.name))))
    await stopAll((n) => n !== 'etcd')
    await stopAll((n) => n === 'etcd')
  }
  const removed = existsSync(stateDir)
  rmSync(stateDir, {recursive: true, force: true, maxRetries: 3})
  return {stateDir, stopped, removed, ...(problems.length ? {problems} : {})}
}
