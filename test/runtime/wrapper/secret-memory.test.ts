// Where a secret value lives inside the wrapper process, on a real kernel against a real OpenBao.
// The wrapper runs from source with node's --heapsnapshot-signal, so the test takes a V8 heap
// snapshot of the running wrapper from outside and searches it for a canary value:
// - native path (the addon): the canary is in no V8 heap object, and the store was memfd_secret;
// - fallback (no addon, the control): the same search finds it, so the method does see strings.
// On both, /proc/<wrapper>/environ holds no value. Anything else still holding the bytes (freed
// but not reused memory, undici's parser memory) is measured with /proc/<pid>/mem and reported.
import t from 'tap'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import {startOpenBao} from '../../../lib/lab/index.js'
import {bao as call} from '../../lib/lab/helpers.js'
import {buildAddon, CHILD_SCRIPT, countIn, expectedMemory, memoryHits, runWrapper, type Run} from './helpers.js'

if (process.env.CLOUDTASER_WRAPPER_BIN) {
  t.plan(0, 'source runs only: the heap snapshot needs a node flag')
} else {
  const bao = await startOpenBao()
  const {path: addon, dir} = buildAddon()
  const runs: Run[] = []
  t.teardown(async () => {
    runs.forEach((r) => r.killAll())
    await bao.stop()
    rmSync(dir, {recursive: true, force: true})
  })
  const canary = `canary-heap-${randomBytes(12).toString('hex')}`
  // Go's encoder escapes "<" and ">" (\u003c): the wrapper has to unescape on the way.
  const value = `<${canary}>`
  await call(bao.addr, bao.token, 'POST', 'secret/data/app/db', {data: {password: value, user: 'app'}})

  const start = (mode: 'native' | 'fallback', extra: Record<string, string> = {}, prefix?: string[]) => {
    const cwd = mkdtempSync(join(dir, `${mode}-`))
    const r = runWrapper(
      {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        CLOUDTASER_NATIVE_ADDON: mode === 'native' ? addon : '',
        CLOUDTASER_ORIGINAL_CMD: JSON.stringify([process.execPath, '-e', CHILD_SCRIPT]),
        CLOUDTASER_VAULT_ADDR: bao.addr,
        CLOUDTASER_VAULT_AUTH_METHOD: 'token',
        CLOUDTASER_VAULT_TOKEN: bao.token,
        CLOUDTASER_SECRET_PATHS: 'secret/data/app/db',
        CLOUDTASER_ENV_MAP: 'password=PGPASSWORD,user=PGUSER',
        CLOUDTASER_POLL_INTERVAL: '200ms',
        ...extra,
      },
      {nodeArgs: ['--heapsnapshot-signal=SIGPWR'], cwd, prefix},
    )
    runs.push(r)
    return {r, cwd}
  }

  const snapshot = async (r: Run, cwd: string) => {
    r.proc.kill('SIGPWR')
    await new Promise((res) => setTimeout(res, 300))
    // Signals are handled in order on the wrapper's event loop: once SIGUSR1 has been forwarded, the
    // synchronous snapshot written for SIGPWR is complete.
    const before = r.lines.filter((l) => l.why === 'usr1').length
    r.proc.kill('SIGUSR1')
    await r.waitFor('usr1', before + 1)
    const file = readdirSync(cwd).find((f) => f.endsWith('.heapsnapshot'))
    if (!file) throw new Error('no heap snapshot written')
    const bytes = readFileSync(join(cwd, file))
    JSON.parse(bytes.toString('utf8'))
    rmSync(join(cwd, file))
    return bytes
  }

  for (const mode of ['native', 'fallback'] as const) {
    t.test(`${mode}: heap snapshot, environ and memory of the running wrapper`, async (t) => {
      const {r, cwd} = start(mode)
      const first = await r.waitFor('start')
      t.equal(first.env!.PGPASSWORD, value, 'the child got the value')
      const log = r.stderr.join('')
      if (mode === 'native') {
        t.match(log, expectedMemory(log), 'the store was memfd_secret (where the kernel has it)')
        t.match(log, /"event":"child_started".*"spawn":"posix_spawn"/)
      } else {
        t.match(log, /"event":"secrets_fetched".*"secretMemory":"v8-heap","secretMemoryDetail":"no addon/)
        t.match(log, /"event":"child_started".*"spawn":"child_process"/)
      }
      const needle = Buffer.from(canary)
      t.equal(countIn(readFileSync(`/proc/${r.proc.pid}/environ`), needle), 0, '/proc/<wrapper>/environ holds no value')

      // Twice: after the start, and after a KV change restarted the child (the polling path).
      for (const round of ['start', 'restart']) {
        if (round === 'restart') {
          await call(bao.addr, bao.token, 'POST', 'secret/data/app/db', {data: {password: value, user: 'app2'}})
          await r.waitFor('start', 2)
        }
        const heap = await snapshot(r, cwd)
        const inHeap = countIn(heap, needle)
        if (mode === 'native') t.equal(inHeap, 0, `${round}: the canary is in no V8 heap object (${(heap.length / 1e6).toFixed(1)} MB snapshot)`)
        else t.ok(inHeap > 0, `${round}: control: the same search finds it as V8 strings (${inHeap}x in ${(heap.length / 1e6).toFixed(1)} MB)`)
        const mem = memoryHits(r.proc.pid!, needle)
        t.comment(`${mode}, ${round}: the canary's bytes appear ${mem.hits}x in the wrapper's readable memory (unreadable: ${mem.unreadable})`)
        // The wrapper's HTTP client zeroes every socket chunk it was handed (there is no parser
        // of someone else's keeping a copy); over plain HTTP nothing else holds the response.
        if (mode === 'native') t.equal(mem.hits, 0, `${round}: no copy of the value anywhere in the wrapper's readable memory`)
      }
      r.proc.kill('SIGTERM')
      t.equal(await r.exit, 42)
    })
  }

  t.test('without CAP_IPC_LOCK and with RLIMIT_MEMLOCK 0 the store falls back and says why', async (t) => {
    const {r} = start('native', {}, ['setpriv', '--inh-caps=-ipc_lock', '--bounding-set=-ipc_lock', 'prlimit', '--memlock=0:0', '--'])
    const first = await r.waitFor('start')
    t.equal(first.env!.PGPASSWORD, value, 'the value still arrives')
    t.match(r.stderr.join(''), /"secretMemory":"mmap","secretMemoryDetail":"memfd_secret: E[A-Z]+, mlock: E[A-Z]+"/)
    r.proc.kill('SIGTERM')
    t.equal(await r.exit, 42)
  })
}
