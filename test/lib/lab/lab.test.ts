// The harness's promises: the whole lab is ready fast, stop() leaves nothing behind, and a test
// process that dies (exception or SIGKILL) takes its servers with it.
import t from 'tap'
import {spawn} from 'node:child_process'
import {existsSync} from 'node:fs'
import {createInterface} from 'node:readline'
import {fileURLToPath} from 'node:url'
import {startLab, startOpenBao} from '../../../lib/lab/index.js'
import {eventually} from './helpers.js'

const groupAlive = (pgid: number) => {
  try {
    process.kill(-pgid, 0)
    return true
  } catch {
    return false
  }
}

t.test('startLab: both servers ready within 15 s, stop() leaves no process or directory', async (t) => {
  const lab = await startLab()
  t.teardown(() => lab.stop())
  t.comment(`warm start: whole lab ready in ${lab.readyMs} ms (control plane ${JSON.stringify(lab.controlPlane.timings)}, OpenBao ${lab.openBao.timings.ready} ms)`)
  t.ok(lab.readyMs < 15_000, `ready in ${lab.readyMs} ms`)
  t.ok(existsSync(lab.kubeconfigPath))
  t.match(lab.baoAddr, /^http:\/\/127\.0\.0\.1:/)
  const pids = [...lab.controlPlane.processes.map((p) => p.pid), lab.openBao.process.pid]
  t.equal(pids.length, 4, 'etcd, kube-apiserver, kube-controller-manager, bao')
  t.ok(pids.every(groupAlive))

  const t0 = Date.now()
  await lab.stop()
  t.comment(`stopped in ${Date.now() - t0} ms`)
  t.notOk(pids.some(groupAlive), 'no process left')
  t.notOk(existsSync(lab.controlPlane.dir) || existsSync(lab.openBao.dir), 'no directory left')
  await lab.stop() // idempotent
})

t.test('stop() copes with a server that already crashed', async (t) => {
  const lab = await startLab()
  t.teardown(() => lab.stop())
  const etcd = lab.controlPlane.processes.find((p) => p.name === 'etcd')!
  process.kill(-etcd.pid, 'SIGKILL')
  await lab.stop()
  t.notOk([...lab.controlPlane.processes.map((p) => p.pid), lab.openBao.process.pid].some(groupAlive))
})

const fixture = fileURLToPath(new URL('./fixtures/hold-lab.ts', import.meta.url))
const holdLab = async (mode: 'hang' | 'throw') => {
  // The same loader flags as this test process, so the fixture can be TypeScript too.
  const child = spawn(process.execPath, [...process.execArgv, fixture, mode], {stdio: ['ignore', 'pipe', 'pipe']})
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({input: child.stdout}).once('line', resolve)
    child.on('exit', (code) => reject(new Error(`fixture exited ${code} before starting the lab`)))
  })
  return {child, exited, info: JSON.parse(line) as {pids: number[]; dirs: string[]}}
}

t.test('an uncaught exception in the test process: servers killed, directories removed', async (t) => {
  const {exited, info} = await holdLab('throw')
  t.not(await exited, 0)
  await eventually('the servers to die', async () => (info.pids.some(groupAlive) ? undefined : true), 10_000)
  t.notOk(info.dirs.some(existsSync), 'exit hook removed the directories')
})

for (const signal of ['SIGKILL', 'SIGTERM'] as const)
t.test(`${signal} to the test process: the servers die, no directory outlives the next start`, async (t) => {
  const {child, exited, info} = await holdLab('hang')
  child.kill(signal)
  await exited
  await eventually('the servers to die (parent-death signal)', async () => (info.pids.some(groupAlive) ? undefined : true), 10_000)
  // Whether the dirs are still there now is not asserted: SIGTERM may run exit hooks (tap's
  // signal-exit turns it into an exit), and any lab starting in a parallel test sweeps them.
  const next = await startOpenBao()
  await next.stop()
  t.notOk(info.dirs.some(existsSync), 'the next lab swept directories of dead owners')
})
