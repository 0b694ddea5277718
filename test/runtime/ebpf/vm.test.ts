// The attack matrix on a real kernel: Debian's stock kernel booted in QEMU
// (software emulation unless CT_QEMU_ACCEL says otherwise) with the static
// agent, a root attacker and victims in a busybox initramfs. Every denial row
// has a sibling in the same boot that must succeed, so a VM in which nothing
// works cannot pass. The matrix boot also runs the static wrapper
// (runtime/wrapper) against a real OpenBao on this host, reached over QEMU's
// user network, as root and as a non-root user.
import {randomBytes} from 'node:crypto'
import t, {type Test} from 'tap'
import {startOpenBao, type OpenBao} from '../../../lib/lab/index.js'
import {bao as call} from '../../lib/lab/helpers.js'
import {boot, buildVmInputs, VECTORS, type Boot} from './vm-harness.js'

const EXPECTED_HOOK: Record<string, {hook: string; vector: string}> = {
  environ: {hook: 'file_open', vector: 'proc_environ'},
  mem: {hook: 'file_open', vector: 'proc_mem'},
  vm_readv: {hook: 'ptrace_access_check', vector: 'process_vm_readv'},
  ptrace: {hook: 'ptrace_access_check', vector: 'ptrace'},
  pidfd_getfd: {hook: 'ptrace_access_check', vector: 'pidfd_getfd'},
}

function outcome(b: Boot, row: string, vector: string): string | undefined {
  const r = b.results.filter((x) => x.row === row && x.vector === vector)
  if (r.length !== 1) return r.length === 0 ? 'missing' : `duplicated(${r.length})`
  return r[0]?.outcome
}

function event(b: Boot, kind: string, hook: string, vector: string, pid: number) {
  return b.events.find((e) => e.event === kind && e.hook === hook && e.vector === vector && e.target?.pid === pid)
}

function bootOk(t: Test, b: Boot): void {
  t.comment(`${b.test}: boot + run took ${b.seconds.toFixed(1)} s (guest uptime at the end: ${b.guestSeconds ?? '?'} s)`)
  t.ok(b.done, `${b.test}: VM reached CT-DONE`, {output: b.done ? undefined : b.output.slice(-4000)})
  const caps = b.events.find((e) => e.event === 'capabilities')
  t.match(caps, {bpf_lsm_active: true, btf: true, programs_loaded: true, attached: true, degraded: false})
}

t.before(async () => {
  await buildVmInputs()
})

/**
 * OpenBao with the canary at secret/vm/canary, and a token that may read only that secret and
 * lives ten minutes: it travels on QEMU's command line (the guest's kernel command line).
 */
async function openBaoForVm(t: Test): Promise<{bao: OpenBao; token: string; canary: string}> {
  const bao = await startOpenBao()
  t.teardown(() => bao.stop())
  const canary = `ct-vm-canary-${randomBytes(8).toString('hex')}`
  const must = async (what: string, r: Promise<{status: number; body: {auth?: {client_token?: string}}}>) => {
    const res = await r
    if (res.status >= 300) throw new Error(`${what}: HTTP ${res.status} ${JSON.stringify(res.body)}`)
    return res.body
  }
  await must('write the canary', call(bao.addr, bao.token, 'POST', 'secret/data/vm/canary', {data: {value: canary}}))
  const policy = 'path "secret/data/vm/canary" { capabilities = ["read"] }\npath "secret/metadata/vm/canary" { capabilities = ["read"] }'
  await must('write the policy', call(bao.addr, bao.token, 'PUT', 'sys/policies/acl/ct-vm', {policy}))
  const token = (await must('create the token', call(bao.addr, bao.token, 'POST', 'auth/token/create', {policies: ['ct-vm'], ttl: '10m'}))).auth?.client_token
  if (!token) throw new Error('no client_token in the token create response')
  return {bao, token, canary}
}

t.test('matrix: protected, forked child, unprotected, PID reuse, self-protection, restart, the static wrapper', async (t) => {
  const {bao, token, canary} = await openBaoForVm(t)
  const b = await boot('matrix', [`ct.bao=http://10.0.2.2:${bao.port}`, `ct.token=${token}`, `ct.canary=${canary}`], {CT_VM_NET: 'user'})
  bootOk(t, b)
  const prot = b.victims.prot
  t.ok(prot && prot.pid > 0 && prot.child > 0, 'protected victim and its child started')
  if (!prot) return

  for (const v of VECTORS) {
    t.equal(outcome(b, 'protected', v), 'denied', `protected: ${v} denied`)
    t.equal(outcome(b, 'protected_child', v), 'denied', `forked child: ${v} denied`)
    t.equal(outcome(b, 'unprotected', v), 'ok', `unprotected: ${v} succeeds in the same boot`)
    t.equal(outcome(b, 'reused_pid', v), 'ok', `reused PID: ${v} succeeds`)
    const {hook, vector} = EXPECTED_HOOK[v]!
    t.ok(event(b, 'denied', hook, vector, prot.pid), `denial of ${v} logged as ${hook}/${vector} for the parent`)
    t.ok(event(b, 'denied', hook, vector, prot.child), `denial of ${v} logged for the child`)
  }
  const errnos = b.results.filter((r) => r.row === 'protected').map((r) => `${r.vector}:${r.fields.err}`)
  t.same(errnos, ['environ:EACCES', 'mem:EACCES', 'vm_readv:EPERM', 'ptrace:EPERM', 'pidfd_getfd:EPERM'])

  const selfRows = b.results.filter((r) => r.row.startsWith('self_'))
  t.ok(selfRows.some((r) => r.row === 'self_protected'), 'protected process checked itself')
  t.ok(selfRows.some((r) => r.row === 'self_child'), 'protected child checked itself')
  for (const r of selfRows) t.equal(r.outcome, 'ok', `${r.row} reads its own environ, mem and vm_readv`)

  t.equal(outcome(b, 'exit_cleanup', 'index'), 'ok', 'exited process leaves the index')
  t.equal(outcome(b, 'pid_reuse', 'same_pid'), 'ok', 'the new process really got the old PID')

  t.equal(outcome(b, 'selfprot', 'bpf_obj_get'), 'denied', 'another root cannot open a pinned map')
  t.equal(outcome(b, 'selfprot', 'map_by_id'), 'denied', 'another root cannot open our maps by id')
  t.equal(outcome(b, 'selfprot', 'pin_unlink'), 'denied', 'another root cannot remove a pinned link')
  t.equal(outcome(b, 'selfprot_control', 'bpf_control'), 'ok', 'the same operations on a foreign map succeed')

  t.equal(outcome(b, 'agent_down', 'environ'), 'denied', 'pinned programs enforce while the agent is down')
  t.equal(outcome(b, 'agent_down', 'vm_readv'), 'denied')
  t.equal(outcome(b, 'agent_restarted', 'environ'), 'denied', 'restarted agent keeps old registrations')
  t.equal(outcome(b, 'agent_restarted_new', 'vm_readv'), 'denied', 'restarted agent takes new registrations')
  const caps = b.events.filter((e) => e.event === 'capabilities')
  t.equal(caps.length, 2, 'two agent starts')
  t.equal(caps[1]?.reused_pins, true, 'the second start reused the pinned state')
  t.equal(outcome(b, 'sticky_enforce', 'detect_downgrade'), 'denied', 'enforce cannot be lowered to detect')

  await t.test('the static wrapper registers, and the app it starts is denied to root (wrapper as root and as uid 1000)', async (t) => {
    for (const row of ['wrapper_unprotected', 'wrapper', 'wrapper_nonroot']) {
      const v = b.victims[row]
      t.ok(v && v.pid > 0 && v.child > 0 && v.wrapper, `${row}: the wrapper started its app`, {log: b.wrapperLogs[row]})
      t.ok(b.wrapperLogs[row]?.some((e) => e.event === 'child_started' && e.pid === v?.pid), `${row}: the wrapper logged the app's pid`)
    }
    for (const v of VECTORS) {
      // The control proves the canary came from OpenBao through the wrapper into the app.
      t.equal(outcome(b, 'wrapper_unprotected', v), 'ok', `unregistered wrapper's app: ${v} reads the canary`)
      for (const row of ['wrapper', 'wrapper_child', 'wrapper_nonroot', 'wrapper_nonroot_child']) t.equal(outcome(b, row, v), 'denied', `${row}: ${v} denied`)
      const {hook, vector} = EXPECTED_HOOK[v]!
      for (const row of ['wrapper', 'wrapper_nonroot']) t.ok(event(b, 'denied', hook, vector, b.victims[row]?.pid ?? -1), `${row}: denial of ${v} logged for the app`)
    }
    t.equal(outcome(b, 'wrapper_self', 'ptrace'), 'denied', 'the wrapper itself is protected')
    for (const [row, uid] of [['wrapper', 0], ['wrapper_nonroot', 1000]] as const) {
      const wrapperPid = b.victims[row]?.wrapper ?? -1
      t.ok(b.wrapperLogs[row]?.some((e) => e.event === 'ebpf_registered' && e.mode === 'enforce' && e.nodePid === wrapperPid), `${row}: wrapper says registered, enforce, as its own pid`)
      t.ok(b.events.some((e) => e.event === 'registered' && e.pid === wrapperPid && e.uid === uid && e.protected === true), `${row}: agent marked the wrapper (uid ${uid})`)
    }
    t.notOk(b.wrapperLogs.wrapper_unprotected?.some((e) => String(e.event).startsWith('ebpf')), 'the control did not register')
    t.notOk(JSON.stringify(b.wrapperLogs).includes(canary), 'no wrapper log line holds the canary')
  })

  await t.test('the world-connectable socket: a registration protects only its caller', async (t) => {
    t.match(b.replies.nonroot_other, /^ERR EBPF_REGISTER_SELF_ONLY /, 'uid 1000 naming another pid is refused')
    t.equal(outcome(b, 'nonroot_other_target', 'vm_readv'), 'ok', 'and that process stays readable')
    t.match(b.replies.nonroot_status, /^ERR EBPF_NOT_ROOT /, 'STATUS is for root')
    t.match(b.replies.stale_peer, /^ERR EBPF_REGISTER_STALE /, 'a connection whose process is gone cannot mark the new holder of its pid')
    t.equal(outcome(b, 'stale_peer', 'ctl_handoff'), 'denied')
    t.equal(outcome(b, 'stale_peer_target', 'vm_readv'), 'ok', 'the new holder of the pid stays readable')
    t.ok(b.events.some((e) => e.event === 'register_refused' && e.code === 'EBPF_REGISTER_STALE'), 'the agent logged the stale attempt')
  })
})

t.test('layers: ptrace_access_check alone stops all five vectors', async (t) => {
  const b = await boot('layers')
  bootOk(t, b)
  const prot = b.victims.prot
  if (!t.ok(prot, 'protected victim started') || !prot) return
  for (const v of VECTORS) {
    t.equal(outcome(b, 'ptrace_only', v), 'denied', `${v} denied without file_open`)
    t.equal(outcome(b, 'ptrace_only_child', v), 'denied', `child: ${v} denied without file_open`)
  }
  t.notOk(
    b.events.some((e) => e.hook === 'file_open'),
    'no file_open decisions (program not attached)',
  )
  t.ok(event(b, 'denied', 'ptrace_access_check', 'proc_mem', prot.pid), '/proc/PID/mem denied in mm_access')
  for (const r of b.results.filter((x) => x.row.startsWith('self_'))) t.equal(r.outcome, 'ok', `${r.row} reads itself`)
})

t.test('detect: logs and allows; raising to enforce applies to existing registrations; a fail-closed wrapper refuses', async (t) => {
  const b = await boot('detect')
  bootOk(t, b)
  t.equal(outcome(b, 'wrapper_detect', 'start'), 'denied', 'fail-closed wrapper under a detect agent: exit 5, app not started')
  t.ok(
    b.wrapperLogs.wrapper_detect?.some((e) => e.event === 'start_failed' && e.code === 'EBPF_NOT_ENFORCING' && /detect mode/.test(String(e.error))),
    'it says the agent only detects',
    {log: b.wrapperLogs.wrapper_detect},
  )
  const prot = b.victims.prot
  if (!t.ok(prot, 'protected victim started') || !prot) return
  for (const v of VECTORS) {
    t.equal(outcome(b, 'detect', v), 'ok', `detect: ${v} allowed`)
    t.equal(outcome(b, 'detect_then_enforce', v), 'denied', `then enforce: ${v} denied`)
    const {hook, vector} = EXPECTED_HOOK[v]!
    t.ok(event(b, 'detected', hook, vector, prot.pid), `detect logged ${v}`)
  }
})
