// Running the wrapper as the pod would: its settings from the mutated pod spec, a projected
// token file, stdout/stderr captured so the test sees what the child printed.
import {execFileSync, spawn, type ChildProcess} from 'node:child_process'
import {closeSync, openSync, readFileSync, readSync} from 'node:fs'
import {fileURLToPath} from 'node:url'
import {setTimeout as sleep} from 'node:timers/promises'

const buildScript = fileURLToPath(new URL('../../../runtime/wrapper/build.sh', import.meta.url))
let built: string | undefined
/** The static wrapper, built by runtime/wrapper/build.sh (cargo caches: instant when unchanged). */
export function wrapperBinary(): string {
  built ??= execFileSync(buildScript, {encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit']}).trim()
  return built
}

/** The child used by the tests: prints its env as one JSON line at start and on SIGHUP, reports signals. */
export const CHILD_SCRIPT = `
const dump = (why) => process.stdout.write(JSON.stringify({why, pid: process.pid, env: process.env, argv: process.argv.slice(1)}) + '\\n');
dump('start');
process.on('SIGHUP', () => dump('hup'));
process.on('SIGUSR1', () => process.stdout.write(JSON.stringify({why: 'usr1'}) + '\\n'));
process.on('SIGTERM', () => { process.stdout.write(JSON.stringify({why: 'term'}) + '\\n'); process.exit(42) });
setInterval(() => {}, 1000);
`

export interface Run {
  proc: ChildProcess
  lines: {why: string; pid?: number; env?: Record<string, string>; argv?: string[]}[]
  stderr: string[]
  exit: Promise<number | null>
  waitFor(why: string, n?: number, timeoutMs?: number): Promise<Run['lines'][number]>
  /**
   * Teardown: SIGKILL the wrapper's whole process group. Killing only the wrapper would leave the
   * app running with the stdout pipe open, and the test process would never exit.
   */
  killAll(): void
}

/**
 * The store the wrapper should report, from its own `hardening` line: memfd_secret where the
 * kernel has it (secretmem, on by default since 6.x here), locked memory where it does not.
 */
export const expectedMemory = (stderr: string): RegExp =>
  /"memfdSecret":"available"/.test(stderr) ? /"secretMemory":"memfd_secret"/ : /"secretMemory":"(mlock|mmap)"/

/** prefix: a command that execs the wrapper (setpriv, prlimit). */
export function runWrapper(env: Record<string, string>, options: {cwd?: string; prefix?: string[]} = {}): Run {
  const [file, ...argv] = [...(options.prefix ?? []), wrapperBinary()]
  // detached: a process group of its own (the app inherits it), so killAll reaches both.
  const proc = spawn(file!, argv, {env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true})
  const run: Run = {
    proc,
    lines: [],
    stderr: [],
    exit: new Promise((r) => proc.once('exit', (code) => r(code))),
    async waitFor(why, n = 1, timeoutMs = 20_000) {
      const end = Date.now() + timeoutMs
      for (;;) {
        const hits = run.lines.filter((l) => l.why === why)
        if (hits.length >= n) return hits[n - 1]!
        if (Date.now() > end) throw new Error(`no "${why}" #${n} from the child; wrapper stderr:\n${run.stderr.join('')}`)
        await sleep(50)
      }
    },
    killAll() {
      try {
        process.kill(-proc.pid!, 'SIGKILL')
      } catch {
        // already gone
      }
    },
  }
  let buf = ''
  proc.stdout!.on('data', (c: Buffer) => {
    buf += c.toString()
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      run.lines.push(JSON.parse(buf.slice(0, i)))
      buf = buf.slice(i + 1)
    }
  })
  proc.stderr!.on('data', (c: Buffer) => run.stderr.push(c.toString()))
  return run
}

export const countIn = (haystack: Buffer, needle: Buffer) => {
  let n = 0
  for (let i = haystack.indexOf(needle); i >= 0; i = haystack.indexOf(needle, i + 1)) n++
  return n
}

/**
 * Every readable mapping of the process, read through /proc/<pid>/mem (root: CAP_SYS_PTRACE) in
 * 1 MiB pieces overlapping by the needle's length; pieces the kernel refuses are counted.
 */
export const memoryHits = (pid: number, needle: Buffer) => {
  let hits = 0
  const unreadable = new Map<string, number>()
  const piece = 1 << 20
  const buf = Buffer.alloc(piece)
  const fd = openSync(`/proc/${pid}/mem`, 'r')
  try {
    for (const line of readFileSync(`/proc/${pid}/maps`, 'utf8').trim().split('\n')) {
      const [range, perms, , , , name = ''] = line.split(/\s+/)
      if (!perms!.startsWith('r') || name === '[vvar]' || name === '[vsyscall]') continue
      const [from, to] = range!.split('-').map((h) => BigInt(`0x${h}`))
      for (let at = from!; at < to!; at += BigInt(piece - needle.length)) {
        const size = Number(to! - at < BigInt(piece) ? to! - at : BigInt(piece))
        try {
          const n = readSync(fd, buf, 0, size, at)
          hits += countIn(buf.subarray(0, n), needle)
        } catch (err) {
          const key = `${name || 'anon'} ${(err as NodeJS.ErrnoException).code}`
          unreadable.set(key, (unreadable.get(key) ?? 0) + 1)
        }
        if (at + BigInt(piece) >= to!) break
      }
    }
  } finally {
    closeSync(fd)
  }
  return {hits, unreadable: [...unreadable].map(([k, n]) => `${k} x${n}`).join(', ') || 'none'}
}
