// The addon on a real kernel, without OpenBao: JSON unescaping straight into secret memory against
// what Node's child_process delivers for the same value (byte for byte in a real child's
// environment), memfd_secret memory unreadable even through /proc/self/mem, and the spawn's
// exit codes, signals and exec failures as the supervisor relies on them.
import t from 'tap'
import {closeSync, openSync, readFileSync, readSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import {constants} from 'node:os'
import {scanKvV2} from '../../../runtime/wrapper/kv-scan.js'
import {HeapSecretSet} from '../../../runtime/wrapper/heap-delivery.js'
import {nativeDelivery} from '../../../runtime/wrapper/native-delivery.js'
import {loadNative} from '../../../runtime/wrapper/native/index.js'
import {buildAddon} from './helpers.js'
import {rawEscaped, tricky} from './json-fixtures.js'

const {path: addon, dir} = buildAddon()
t.teardown(() => rmSync(dir, {recursive: true, force: true}))

t.test('the addon unescapes into secret memory exactly what child_process would deliver', async (t) => {
  const {native, error} = loadNative({CLOUDTASER_NATIVE_ADDON: addon})
  if (!native) throw new Error(error)
  const data: Record<string, unknown> = {...tricky, number: 1.25, flag: false, obj: {k: 'v'}}
  const text = `{"data":{"data":{${[...Object.entries(data).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`), ...Object.entries(rawEscaped).map(([k, v]) => `"${k}":${v}`)].join(',')}},"metadata":{"version":1}}}`
  const b = Buffer.from(text)
  const {fields} = scanKvV2(b)
  const delivery = nativeDelivery(native)
  const set = delivery.newSet(b.length * 2)
  t.equal(set.memory, native.memfdSecretProbe() === 0 ? 'memfd_secret' : 'mlock', 'memfd_secret where the kernel has it (secretmem)')
  const heap = new HeapSecretSet('control')
  for (const [name, span] of fields!) {
    t.equal(set.put(`V_${name}`, b, span), undefined)
    heap.put(`V_${name}`, b, span)
  }
  const out = join(dir, 'env')
  const child = delivery.launch(['/bin/sh', '-c', 'env -0 > "$0"', out], {}, set)
  t.equal(await child.exited, 0)
  const got = new Map(
    readFileSync(out)
      .toString('latin1')
      .split('\0')
      .filter((l) => l.startsWith('V_'))
      .map((l) => [l.slice(0, l.indexOf('=')), Buffer.from(l.slice(l.indexOf('=') + 1), 'latin1')]),
  )
  for (const [name, value] of Object.entries(heap.env)) t.same(got.get(name), Buffer.from(value, 'utf8'), name)
  t.equal(got.size, Object.keys(heap.env).length)
  t.same(got.get('V_loneHigh'), Buffer.from('x\ufffdy'), 'a lone surrogate becomes U+FFFD, as Node encodes it')
  t.same(got.get('V_obj'), Buffer.from('{"k":"v"}'))
})

t.test('a NUL in a value is refused on both paths; the store is wiped after the spawn', async (t) => {
  const {native} = loadNative({CLOUDTASER_NATIVE_ADDON: addon})
  const b = Buffer.from('{"a":"x\\u0000y","b":"ok"}')
  const set = nativeDelivery(native!).newSet(64)
  t.equal(set.put('A', b, {start: 6, end: 14, isString: true}), 'nul')
  t.equal(new HeapSecretSet('control').put('A', b, {start: 6, end: 14, isString: true}), 'nul')
  const child = nativeDelivery(native!).launch(['/bin/true'], {}, set)
  t.equal(await child.exited, 0)
  t.equal((set as unknown as {handle: number}).handle, -1, 'wiped and unmapped once the child exists')
})

const probe = loadNative({CLOUDTASER_NATIVE_ADDON: addon}).native?.memfdSecretProbe()
t.test('memfd_secret memory is unreadable even through /proc/<pid>/mem, and gone after the wipe', {skip: probe === 0 ? false : `memfd_secret unavailable here (errno ${probe})`}, async (t) => {
  const {native} = loadNative({CLOUDTASER_NATIVE_ADDON: addon})
  const secretMaps = () => readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes('/secretmem'))
  const before = secretMaps().length
  const set = nativeDelivery(native!).newSet(16)
  const b = Buffer.from('not-so-secret')
  set.put('X', b, {start: 0, end: b.length, isString: false})
  const added = secretMaps().slice(before)
  t.equal(added.length, 1, 'one /secretmem mapping')
  const from = BigInt(`0x${added[0]!.split('-')[0]}`)
  const fd = openSync('/proc/self/mem', 'r')
  t.throws(() => readSync(fd, Buffer.alloc(16), 0, 16, from), {code: 'EIO'}, 'the kernel refuses even the owner (root) a read')
  closeSync(fd)
  set.wipe()
  t.equal(secretMaps().length, before, 'unmapped')
})

t.test('exit codes, signals through the pidfd, exec failure', async (t) => {
  const {native} = loadNative({CLOUDTASER_NATIVE_ADDON: addon})
  const d = nativeDelivery(native!)
  t.equal(await d.launch(['sh', '-c', 'exit 3'], {PATH: process.env.PATH ?? '/usr/bin:/bin'}, d.newSet(0)).exited, 3, 'PATH lookup, exit code')
  const sleeper = d.launch(['sleep', '30'], {}, d.newSet(0))
  t.ok(sleeper.pid! > 0)
  sleeper.kill('SIGUSR2')
  t.equal(await sleeper.exited, 128 + 12, 'killed by SIGUSR2: 128 + 12')
  // Reaped but its slot not yet released: the signal goes through the pidfd, which knows the
  // process is gone, so a new process that took its pid is never hit.
  const afterExit = await new Promise<number>((resolve) => {
    const r = native!.spawn('sleep', ['sleep', '30'], [], -1, () => {
      resolve(native!.signal(slot, constants.signals.SIGTERM))
      native!.release(slot)
    })
    if ('errno' in r) throw new Error(`spawn failed: ${r.errno}`)
    const slot = r.slot
    native!.signal(slot, constants.signals.SIGKILL)
  })
  t.equal(afterExit, constants.errno.ESRCH, 'a signal after the exit goes nowhere: ESRCH')
  const trapper = d.launch(['sh', '-c', 'trap "exit 9" HUP; kill -HUP $$; sleep 5 & wait'], {}, d.newSet(0))
  t.equal(await trapper.exited, 9, 'the child starts with default dispositions and may install its own')
  const missing = d.launch(['/nonexistent/app'], {}, d.newSet(0))
  t.equal(missing.pid, undefined)
  t.equal(await missing.exited, 127, 'exec failure: 127, as a shell would')
  // Node ignores SIGPIPE; the child must get the default disposition back (libuv does the same).
  const pipe = d.launch(['sh', '-c', 'grep -q "^SigIgn:[[:space:]]*0*$" /proc/self/status'], {}, d.newSet(0))
  t.equal(await pipe.exited, 0, 'no signal ignored in the child')
})
