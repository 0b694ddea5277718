/**
 * The wrapper's side of the eBPF agent protocol: before it starts the
 * application, the wrapper connects to the agent's Unix socket (any user may
 * connect) and sends `REGISTER`. The agent takes the caller's pid from
 * SO_PEERCRED (so a pid inside a container's namespace never has to be
 * translated or trusted, and no caller can name another process) and marks
 * that process; every child it starts afterwards inherits the mark before its
 * first instruction.
 *
 * Wire format (one line each way): `REGISTER\n` ->
 *   `OK <pid-in-agent-namespace> enforce|detect|degraded\n` or `ERR <CODE> <message>\n`.
 */
import {connect} from 'node:net'
import {Annotations} from '../annotations.js'
import {CloudtaserError, ExitCode} from '../errors.js'

export const DEFAULT_AGENT_SOCKET = '/run/cloudtaser/ebpf.sock'

/**
 * `closed` (default): the application does not start unless the agent confirms
 * kernel enforcement. `open`: it starts anyway and the outcome is reported.
 */
export const EBPF_FAIL_ANNOTATION = Annotations.ebpfFail

export type AgentMode = 'enforce' | 'detect' | 'degraded'

export type RegisterResult =
  /** The kernel now refuses every other process access to this one's memory. */
  | {protected: true; mode: 'enforce'; agentPid: number}
  /** Allowed by policy (fail-open, or acceptDetect): the application starts without enforcement. */
  | {protected: false; mode: 'detect' | 'degraded' | 'unavailable'; reason: string; agentPid?: number}

export interface RegisterOptions {
  socketPath?: string
  /** Refuse (throw) unless the agent enforces. Default true. */
  failClosed?: boolean
  /** With failClosed, accept detect mode too (accesses logged, not blocked). Default false. */
  acceptDetect?: boolean
  timeoutMs?: number
}

export interface EbpfAnnotationPolicy {
  /** cloudtaser.io/ebpf is "true": the wrapper must register. */
  enabled: boolean
  failClosed: boolean
}

/** Reads the pod's annotations: register only when asked, fail closed unless told `open`. */
export function ebpfPolicy(annotations: Record<string, string | undefined>): EbpfAnnotationPolicy {
  const enabled = annotations[Annotations.ebpf]?.trim().toLowerCase() === 'true'
  const fail = annotations[EBPF_FAIL_ANNOTATION]?.trim().toLowerCase()
  if (fail !== undefined && fail !== 'open' && fail !== 'closed') {
    throw new CloudtaserError('EBPF_BAD_ANNOTATION', `${EBPF_FAIL_ANNOTATION} must be "open" or "closed", not "${fail}"`, {
      exitCode: ExitCode.CONFIG,
      hint: `Set ${EBPF_FAIL_ANNOTATION}: closed (the default) or open on the pod template.`,
    })
  }
  return {enabled, failClosed: fail !== 'open'}
}

export type AgentReply = {ok: true; pid: number; mode: AgentMode} | {ok: false; code: string; message: string}

export function parseReply(line: string): AgentReply {
  const ok = /^OK (\d+) (enforce|detect|degraded)$/.exec(line.trim())
  if (ok) return {ok: true, pid: Number(ok[1]), mode: ok[2] as AgentMode}
  const err = /^ERR (\S+) ?(.*)$/.exec(line.trim())
  if (err) return {ok: false, code: err[1] ?? 'EBPF_ERROR', message: err[2] ?? ''}
  return {ok: false, code: 'EBPF_BAD_REPLY', message: `unexpected reply: ${JSON.stringify(line.slice(0, 200))}`}
}

/** Sends one request line and resolves with the first reply line. */
export function request(socketPath: string, line: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(socketPath)
    let buf = ''
    const done = (err: Error | null, value?: string): void => {
      clearTimeout(timer)
      sock.destroy()
      if (err) reject(err)
      else resolve(value ?? '')
    }
    const timer = setTimeout(() => done(new Error(`no reply within ${timeoutMs} ms`)), timeoutMs)
    sock.setEncoding('utf8')
    sock.on('connect', () => sock.write(`${line}\n`))
    sock.on('data', (chunk: string) => {
      buf += chunk
      const nl = buf.indexOf('\n')
      if (nl >= 0) done(null, buf.slice(0, nl))
      else if (buf.length > 1 << 20) done(new Error('reply too long'))
    })
    sock.on('error', (err) => done(err))
    sock.on('end', () => done(new Error('agent closed the connection without a reply')))
  })
}

/**
 * Registers the calling process. Call it before starting the application:
 * the application is then protected from its first instruction.
 */
export async function registerWithAgent(options: RegisterOptions = {}): Promise<RegisterResult> {
  const socketPath = options.socketPath ?? DEFAULT_AGENT_SOCKET
  const failClosed = options.failClosed ?? true
  let reply: AgentReply
  try {
    reply = parseReply(await request(socketPath, 'REGISTER', options.timeoutMs ?? 5000))
  } catch (err) {
    const reason = `cannot reach the eBPF agent at ${socketPath}: ${(err as Error).message}`
    if (failClosed) {
      throw new CloudtaserError('EBPF_UNAVAILABLE', reason, {
        exitCode: ExitCode.UNAVAILABLE,
        hint: `Is the cloudtaser eBPF agent running on this node and its socket mounted into the pod? To start without kernel protection, set ${EBPF_FAIL_ANNOTATION}: open.`,
        cause: err,
      })
    }
    return {protected: false, mode: 'unavailable', reason}
  }
  if (!reply.ok) {
    const reason = `the eBPF agent refused registration: ${reply.code} ${reply.message}`.trim()
    if (failClosed) {
      throw new CloudtaserError('EBPF_REGISTER_FAILED', reason, {
        exitCode: ExitCode.UNAVAILABLE,
        hint: 'The agent log says why (event register_refused or error, with the pid and uid).',
        details: {code: reply.code},
      })
    }
    return {protected: false, mode: 'unavailable', reason}
  }
  if (reply.mode === 'enforce') return {protected: true, mode: 'enforce', agentPid: reply.pid}
  const reason =
    reply.mode === 'detect'
      ? 'the eBPF agent runs in detect mode: accesses are logged, not blocked'
      : 'the eBPF agent runs degraded: this kernel cannot enforce (see `cloudtaser target check` or the agent log)'
  if (failClosed && !(reply.mode === 'detect' && options.acceptDetect)) {
    throw new CloudtaserError(reply.mode === 'detect' ? 'EBPF_NOT_ENFORCING' : 'EBPF_DEGRADED', reason, {
      exitCode: ExitCode.UNAVAILABLE,
      hint: `Fix the node (bpf in the active LSM list, BTF present) or set ${EBPF_FAIL_ANNOTATION}: open to start anyway.`,
      details: {agentPid: reply.pid, mode: reply.mode},
    })
  }
  return {protected: false, mode: reply.mode, reason, agentPid: reply.pid}
}
