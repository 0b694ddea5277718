/**
 * `cloudtaser ebpf run`: drives the static C agent (runtime/ebpf), which does
 * everything that touches the kernel, and adds what a DaemonSet needs around
 * it: the agent's JSON log enriched with pod identity, and HTTP /healthz,
 * /readyz, /metrics and /status. Node never touches a BPF map.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {existsSync} from 'node:fs'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import path from 'node:path'
import {createInterface} from 'node:readline'
import {fileURLToPath} from 'node:url'
import {CloudtaserError, ExitCode} from '../errors.js'
import {DEFAULT_AGENT_SOCKET, request} from './register.js'

export interface AgentOptions {
  mode: 'enforce' | 'detect'
  socketPath?: string
  pinDir?: string
  /** HTTP listen address; port 0 picks a free port. */
  host?: string
  port?: number
  /** Path of cloudtaser-ebpf-agent (default: $CLOUDTASER_EBPF_AGENT, else the repository build). */
  binary?: string
  /** Pin nothing (tests, benchmarks): protection ends with the agent. */
  ephemeral?: boolean
  /** Where structured log lines go (default: stdout, one JSON object per line). */
  log?: (entry: Record<string, unknown>) => void
  startTimeoutMs?: number
}

export interface Capabilities {
  kernel?: string
  lsm_list?: string
  bpf_lsm_active?: boolean
  btf?: boolean
  programs_loaded?: boolean
  attached?: boolean
  reused_pins?: boolean
  degraded?: boolean
  mode?: string
  reason?: string
}

export interface PodRef {
  uid: string
  container?: string
}

export interface AgentState {
  ready: boolean
  capabilities: Capabilities
  denials: Map<string, number>
  detections: Map<string, number>
  registrations: number
  agentPid?: number
}

export interface AgentSummary {
  exitCode: number | null
  signal: string | null
  capabilities: Capabilities
  registrations: number
  denials: number
  detections: number
}

export interface RunningAgent {
  url: string
  state: AgentState
  /** Resolves when the agent process ends, for whatever reason. */
  exited: Promise<AgentSummary>
  stop(): Promise<AgentSummary>
}

const here = path.dirname(fileURLToPath(import.meta.url))

export function resolveAgentBinary(explicit?: string): string {
  const candidates = [
    explicit,
    process.env.CLOUDTASER_EBPF_AGENT,
    // lib/ebpf (tsx, tap) and dist/lib/ebpf (built CLI)
    path.resolve(here, '../../runtime/ebpf/build/cloudtaser-ebpf-agent'),
    path.resolve(here, '../../../runtime/ebpf/build/cloudtaser-ebpf-agent'),
    '/usr/local/bin/cloudtaser-ebpf-agent',
  ].filter((c): c is string => Boolean(c))
  const found = candidates.find((c) => existsSync(c))
  if (!found) {
    throw new CloudtaserError('EBPF_AGENT_MISSING', 'cloudtaser-ebpf-agent not found', {
      exitCode: ExitCode.CONFIG,
      hint: 'Build it with `make -C runtime/ebpf` (or run .ci/install.d/30-ebpf.sh), or point CLOUDTASER_EBPF_AGENT at it.',
      details: {searched: candidates},
    })
  }
  return found
}

/**
 * Pod UID and container id from a cgroup v2 path, for both cgroup drivers:
 * systemd `.../kubepods-burstable-pod<uid_with_underscores>.slice/cri-containerd-<id>.scope`
 * and cgroupfs `/kubepods/burstable/pod<uid>/<id>`.
 */
export function podFromCgroup(cgroup: string | undefined): PodRef | undefined {
  if (!cgroup) return undefined
  const pod = /pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})/.exec(cgroup)
  if (!pod?.[1]) return undefined
  const container = /(?:^|\/)(?:[a-z-]+-)?([0-9a-f]{64})(?:\.scope)?$/.exec(cgroup)?.[1]
  return {uid: pod[1].replaceAll('_', '-'), ...(container ? {container} : {})}
}

type Party = {cgroup?: string; pod?: PodRef}

function enrich(entry: Record<string, unknown>): Record<string, unknown> {
  for (const side of ['attacker', 'target'] as const) {
    const p = entry[side] as Party | undefined
    if (p && typeof p === 'object') {
      const pod = podFromCgroup(p.cgroup)
      if (pod) p.pod = pod
    }
  }
  return entry
}

const key = (e: Record<string, unknown>): string => `${String(e.hook)}|${String(e.vector)}`

function metrics(state: AgentState, alive: boolean): string {
  const caps = state.capabilities
  const lines = [
    '# HELP cloudtaser_ebpf_up 1 while the agent process runs.',
    '# TYPE cloudtaser_ebpf_up gauge',
    `cloudtaser_ebpf_up ${alive ? 1 : 0}`,
    '# HELP cloudtaser_ebpf_degraded 1 when this kernel cannot enforce (see /status for why).',
    '# TYPE cloudtaser_ebpf_degraded gauge',
    `cloudtaser_ebpf_degraded ${caps.degraded ? 1 : 0}`,
    '# HELP cloudtaser_ebpf_enforcing 1 when denials are enforced by the kernel.',
    '# TYPE cloudtaser_ebpf_enforcing gauge',
    `cloudtaser_ebpf_enforcing ${caps.mode === 'enforce' ? 1 : 0}`,
    '# HELP cloudtaser_ebpf_registrations_total Wrapper registrations accepted since start.',
    '# TYPE cloudtaser_ebpf_registrations_total counter',
    `cloudtaser_ebpf_registrations_total ${state.registrations}`,
    '# HELP cloudtaser_ebpf_denials_total Accesses the kernel refused, by hook and vector.',
    '# TYPE cloudtaser_ebpf_denials_total counter',
  ]
  for (const [k, n] of state.denials) {
    const [hook, vector] = k.split('|')
    lines.push(`cloudtaser_ebpf_denials_total{hook="${hook}",vector="${vector}"} ${n}`)
  }
  lines.push(
    '# HELP cloudtaser_ebpf_detections_total Accesses logged in detect mode, by hook and vector.',
    '# TYPE cloudtaser_ebpf_detections_total counter',
  )
  for (const [k, n] of state.detections) {
    const [hook, vector] = k.split('|')
    lines.push(`cloudtaser_ebpf_detections_total{hook="${hook}",vector="${vector}"} ${n}`)
  }
  return `${lines.join('\n')}\n`
}

const sum = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0)

export async function startAgent(options: AgentOptions): Promise<RunningAgent> {
  const binary = resolveAgentBinary(options.binary)
  const socketPath = options.socketPath ?? DEFAULT_AGENT_SOCKET
  const log = options.log ?? ((e) => process.stdout.write(`${JSON.stringify(e)}\n`))
  const args = ['--mode', options.mode, '--socket', socketPath]
  if (options.pinDir) args.push('--pin-dir', options.pinDir)
  if (options.ephemeral) args.push('--ephemeral')

  const state: AgentState = {ready: false, capabilities: {}, denials: new Map(), detections: new Map(), registrations: 0}
  const child: ChildProcess = spawn(binary, args, {stdio: ['ignore', 'pipe', 'pipe']})
  let alive = true
  const stderrTail: string[] = []

  const exited = new Promise<AgentSummary>((resolve) => {
    child.on('close', (exitCode, signal) => {
      alive = false
      resolve({
        exitCode,
        signal,
        capabilities: state.capabilities,
        registrations: state.registrations,
        denials: sum(state.denials),
        detections: sum(state.detections),
      })
    })
  })

  let markReady: () => void = () => {}
  const ready = new Promise<void>((resolve) => (markReady = resolve))

  createInterface({input: child.stdout!}).on('line', (line) => {
    let entry: Record<string, unknown>
    try {
      entry = JSON.parse(line) as Record<string, unknown>
    } catch {
      log({event: 'agent_output', message: line})
      return
    }
    switch (entry.event) {
      case 'capabilities':
        state.capabilities = entry as Capabilities
        break
      case 'ready':
        state.ready = true
        state.agentPid = Number(entry.pid)
        markReady()
        break
      case 'registered':
        state.registrations++
        break
      case 'denied':
        state.denials.set(key(entry), (state.denials.get(key(entry)) ?? 0) + 1)
        break
      case 'detected':
        state.detections.set(key(entry), (state.detections.get(key(entry)) ?? 0) + 1)
        break
    }
    log(enrich(entry))
  })
  createInterface({input: child.stderr!}).on('line', (line) => {
    stderrTail.push(line)
    if (stderrTail.length > 20) stderrTail.shift()
  })

  const timeoutMs = options.startTimeoutMs ?? 30_000
  let timer: NodeJS.Timeout | undefined
  const outcome = await Promise.race([
    ready.then(() => 'ready' as const),
    exited.then(() => 'exited' as const),
    new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs))),
  ])
  clearTimeout(timer)
  if (outcome !== 'ready') {
    if (outcome === 'timeout') child.kill('SIGKILL')
    const summary = await exited
    throw new CloudtaserError('EBPF_AGENT_START_FAILED', `the eBPF agent ${outcome === 'timeout' ? `was not ready within ${timeoutMs} ms` : `exited (code ${summary.exitCode})`} before it was ready`, {
      exitCode: ExitCode.UNAVAILABLE,
      hint: 'It must run as root with /sys/fs/bpf and /sys/kernel/security available; its stderr is in details.',
      details: {stderr: stderrTail, binary},
    })
  }

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const send = (code: number, body: unknown, type = 'application/json'): void => {
      res.writeHead(code, {'content-type': type})
      res.end(type === 'application/json' ? `${JSON.stringify(body)}\n` : String(body))
    }
    const url = new URL(req.url ?? '/', 'http://agent')
    if (req.method !== 'GET') return send(405, {error: 'method not allowed'})
    switch (url.pathname) {
      case '/healthz':
        return send(alive ? 200 : 503, {alive})
      case '/readyz':
        // Degraded still counts as ready: the agent answers registrations
        // truthfully ("degraded"), so fail-closed wrappers refuse to start.
        return send(alive && state.ready ? 200 : 503, {ready: alive && state.ready, degraded: Boolean(state.capabilities.degraded)})
      case '/metrics':
        return send(200, metrics(state, alive), 'text/plain; version=0.0.4')
      case '/status':
        request(socketPath, 'STATUS', 3000)
          .then((line) => {
            const body = line.startsWith('OK ') ? (JSON.parse(line.slice(3)) as unknown) : {error: line}
            send(200, {capabilities: state.capabilities, agent: body})
          })
          .catch((err: Error) => send(503, {capabilities: state.capabilities, error: err.message}))
        return
      default:
        return send(404, {error: 'not found', paths: ['/healthz', '/readyz', '/metrics', '/status']})
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 9464, options.host ?? '127.0.0.1', () => resolve())
  })
  const addr = server.address() as AddressInfo
  const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`
  void exited.then(() => server.close())

  return {
    url,
    state,
    exited,
    async stop() {
      if (alive) child.kill('SIGTERM')
      const summary = await exited
      await new Promise<void>((resolve) => server.close(() => resolve()))
      return summary
    },
  }
}
