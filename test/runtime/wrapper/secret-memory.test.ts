// Where a secret value lives inside the running wrapper, on a real kernel against a real OpenBao:
// every readable mapping of the process is searched through /proc/<pid>/mem for a canary, after
// the start and after a KV change restarted the app. The store is memfd_secret memory, which the
// kernel refuses to read even to root; everything else (the HTTP response, rustls' buffers, the
// expanded args) is zeroed when freed. So: 0 copies. /proc/<wrapper>/environ holds none either.
// The fallback chain (no CAP_IPC_LOCK, RLIMIT_MEMLOCK 0) is reported with its reasons.
import t from 'tap'
import {randomBytes} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {startOpenBao} from '../../../lib/lab/index.js'
import {bao as call} from '../../lib/lab/helpers.js'
import {CHILD_SCRIPT, countIn, expectedMemory, memoryHits, runWrapper, type Run} from './helpers.js'

const bao = await startOpenBao()
const runs: Run[] = []
t.teardown(async () => {
  runs.forEach((r) => r.killAll())
  await bao.stop()
})
const canary = `canary-mem-${randomBytes(12).toString('hex')}`
// Go's encoder escapes "<" and ">" (\u003c): the wrapper unescapes on the way into the store.
const value = `<${canary}>`
await call(bao.addr, bao.token, 'POST', 'secret/data/app/db', {data: {password: value, user: 'app'}})

const start = (prefix?: string[]) => {
  const r = runWrapper(
    {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      CLOUDTASER_ORIGINAL_CMD: JSON.stringify([process.execPath, '-e', CHILD_SCRIPT]),
      CLOUDTASER_VAULT_ADDR: bao.addr,
      CLOUDTASER_VAULT_AUTH_METHOD: 'token',
      CLOUDTASER_VAULT_TOKEN: bao.token,
      CLOUDTASER_SECRET_PATHS: 'secret/data/app/db',
      CLOUDTASER_ENV_MAP: 'password=PGPASSWORD,user=PGUSER',
      CLOUDTASER_POLL_INTERVAL: '200ms',
    },
    {prefix},
  )
  runs.push(r)
  return r
}

t.test('environ and memory of the running wrapper, after the start and after a restart', async (t) => {
  const r = start()
  const first = await r.waitFor('start')
  t.equal(first.env!.PGPASSWORD, value, 'the child got the value, unescaped')
  const log = r.stderr.join('')
  t.match(log, expectedMemory(log), 'the store was memfd_secret (where the kernel has it)')
  const needle = Buffer.from(canary)
  t.equal(countIn(readFileSync(`/proc/${r.proc.pid}/environ`), needle), 0, '/proc/<wrapper>/environ holds no value')
  // The control: the same search finds the value in the app, which holds it by design.
  t.ok(memoryHits(first.pid!, needle).hits > 0, 'control: the scan finds the value in the app\'s memory')
  for (const round of ['start', 'restart']) {
    if (round === 'restart') {
      await call(bao.addr, bao.token, 'POST', 'secret/data/app/db', {data: {password: value, user: 'app2'}})
      await r.waitFor('start', 2)
      // Let the poll thread finish its tick (store wiped, buffers freed).
      await new Promise((res) => setTimeout(res, 300))
    }
    const mem = memoryHits(r.proc.pid!, needle)
    t.equal(mem.hits, 0, `${round}: no copy of the value anywhere in the wrapper's readable memory (unreadable: ${mem.unreadable})`)
  }
  r.proc.kill('SIGTERM')
  t.equal(await r.exit, 42)
})

t.test('without CAP_IPC_LOCK and with RLIMIT_MEMLOCK 0 the store falls back and says why', async (t) => {
  const r = start(['setpriv', '--inh-caps=-ipc_lock', '--bounding-set=-ipc_lock', 'prlimit', '--memlock=0:0', '--'])
  const first = await r.waitFor('start')
  t.equal(first.env!.PGPASSWORD, value, 'the value still arrives')
  t.match(r.stderr.join(''), /"secretMemory":"mmap","secretMemoryDetail":"memfd_secret mmap: [^"]+; mlock: [^"]+"/)
  r.proc.kill('SIGTERM')
  t.equal(await r.exit, 42)
})
