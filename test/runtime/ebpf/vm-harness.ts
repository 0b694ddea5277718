// Builds the eBPF agent and its VM inputs, boots Debian's kernel in QEMU and
// parses what the VM prints on its serial console. Shared by the VM tests.
import {spawn} from 'node:child_process'
import {fileURLToPath} from 'node:url'
import path from 'node:path'

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
export const ebpfDir = path.join(repoRoot, 'runtime/ebpf')

export interface ResultLine {
  row: string
  vector: string
  outcome: 'ok' | 'denied' | 'error' | 'failed'
  fields: Record<string, string>
}

export interface AgentEvent {
  event: string
  hook?: string
  vector?: string
  errno?: number
  attacker?: {pid: number; comm: string}
  target?: {pid?: number; comm?: string; object?: string}
  [k: string]: unknown
}

export interface Boot {
  test: string
  seconds: number
  exitCode: number | null
  output: string
  results: ResultLine[]
  events: AgentEvent[]
  /** `wrapper`: the pid of the cloudtaser-wrapper that started the victim (wrapper rows). */
  victims: Record<string, {pid: number; child: number; wrapper?: number}>
  /** The wrapper's JSON log lines, by row name. */
  wrapperLogs: Record<string, Record<string, unknown>[]>
  /** Raw agent replies (`attack ROW ctl ...`), by row. */
  replies: Record<string, string>
  done: boolean
  /** The guest's uptime at CT-DONE: boot + run as the VM saw it, without QEMU's start and exit. */
  guestSeconds?: number
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{code: number | null; output: string}> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {cwd: repoRoot, env: {...process.env, ...env}, stdio: ['ignore', 'pipe', 'pipe']})
    let output = ''
    child.stdout.on('data', (d: Buffer) => (output += d.toString()))
    child.stderr.on('data', (d: Buffer) => (output += d.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolve({code, output}))
  })
}

export async function buildVmInputs(): Promise<void> {
  const {code, output} = await run('make', ['-C', ebpfDir, 'vm-inputs'])
  if (code !== 0) throw new Error(`make vm-inputs failed (${code}):\n${output}`)
}

const kv = (s: string): Record<string, string> =>
  Object.fromEntries(
    s
      .trim()
      .split(/\s+/)
      .map((p) => p.split('='))
      .filter((p) => p.length >= 2)
      .map(([k, ...v]) => [k ?? '', v.join('=')]),
  )

export function parseSerial(test: string, output: string, seconds: number, exitCode: number | null): Boot {
  const results: ResultLine[] = []
  const events: AgentEvent[] = []
  const victims: Boot['victims'] = {}
  const wrapperLogs: Boot['wrapperLogs'] = {}
  const replies: Boot['replies'] = {}
  let done = false
  let guestSeconds: number | undefined
  for (const raw of output.split(/\r?\n/)) {
    const line = raw.replace(/^.*?(CT-[A-Z]+ )/, '$1')
    if (line.startsWith('CT-RESULT ')) {
      const fields = kv(line.slice(10))
      results.push({row: fields.row ?? '', vector: fields.vector ?? '', outcome: fields.outcome as ResultLine['outcome'], fields})
    } else if (line.startsWith('CT-AGENT ')) {
      try {
        events.push(JSON.parse(line.slice(9)) as AgentEvent)
      } catch {
        // a line garbled by kernel messages on the same console; the rows assert what matters
      }
    } else if (line.startsWith('CT-VICTIM ')) {
      const f = kv(line.slice(10))
      if (f.name) victims[f.name] = {pid: Number(f.pid), child: Number(f.child), ...(f.wrapper ? {wrapper: Number(f.wrapper)} : {})}
    } else if (line.startsWith('CT-WRAPPER name=')) {
      const [name = '', ...json] = line.slice(16).split(' ')
      try {
        ;(wrapperLogs[name] ??= []).push(JSON.parse(json.join(' ')) as Record<string, unknown>)
      } catch {
        // garbled by concurrent console output; the rows assert what matters
      }
    } else if (line.startsWith('CT-CTL row=')) {
      const m = /^CT-CTL row=(\S+) reply=(.*)$/.exec(line)
      if (m) replies[m[1]!] = m[2]!
    } else if (line.startsWith('CT-DONE')) {
      done = true
      guestSeconds = Number(/uptime=([\d.]+)/.exec(line)?.[1]) || undefined
    }
  }
  return {test, seconds, exitCode, output, results, events, victims, wrapperLogs, replies, done, guestSeconds}
}

/** extraArgs go on the kernel command line; env to run-vm.sh (e.g. CT_VM_NET). */
export async function boot(test: string, extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Boot> {
  const start = process.hrtime.bigint()
  const {code, output} = await run(path.join(ebpfDir, 'vm/run-vm.sh'), [test, ...extraArgs], env)
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  return parseSerial(test, output, seconds, code)
}

export const VECTORS = ['environ', 'mem', 'vm_readv', 'ptrace', 'pidfd_getfd'] as const
