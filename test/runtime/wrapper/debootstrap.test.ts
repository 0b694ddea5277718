// The single executable in an application image without Node: a Debian minbase root filesystem
// made by debootstrap, the wrapper copied in as the init container would, run with chroot as the
// container's PID 1 against the lab's OpenBao (loopback is shared with the chroot). The
// child is the image's own /bin/sh. Skipped where debootstrap or the Debian mirror is missing.
import t from 'tap'
import {execFileSync, spawnSync} from 'node:child_process'
import {copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {startOpenBao} from '../../../lib/lab/index.js'
import {expectedMemory} from './helpers.js'

const root = fileURLToPath(new URL('../../../', import.meta.url))
// A made rootfs is reused between runs (24 s and ~120 MB from the mirror); never holds a secret.
const cache = process.env.CLOUDTASER_DEBOOTSTRAP_DIR ?? join(tmpdir(), 'cloudtaser-debootstrap-bookworm')
const haveTools = spawnSync('debootstrap', ['--version']).status === 0 && process.getuid?.() === 0
if (!haveTools) {
  t.plan(0, 'debootstrap (Debian package) and root are needed')
} else {
  if (!existsSync(join(cache, 'bin/sh'))) {
    rmSync(cache, {recursive: true, force: true})
    const r = spawnSync('debootstrap', ['--variant=minbase', 'bookworm', cache, process.env.DEBIAN_MIRROR ?? 'http://deb.debian.org/debian'], {stdio: 'ignore', timeout: 600_000})
    if (r.status !== 0) throw new Error(`debootstrap failed (${r.status}); is the Debian mirror reachable?`)
  }
  const out = mkdtempSync(join(tmpdir(), 'cloudtaser-sea-'))
  const bao = await startOpenBao()
  t.teardown(async () => {
    await bao.stop()
    rmSync(out, {recursive: true, force: true})
    rmSync(join(cache, 'cloudtaser'), {recursive: true, force: true})
  })
  const bin = execFileSync(join(root, 'runtime/wrapper/build-sea.sh'), [out], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore']}).trim()
  mkdirSync(join(cache, 'cloudtaser'), {recursive: true})
  copyFileSync(bin, join(cache, 'cloudtaser/wrapper'))
  execFileSync('chmod', ['0755', join(cache, 'cloudtaser/wrapper')])
  const value = `canary-${Date.now()}`
  await fetch(`${bao.addr}/v1/secret/data/app/db`, {method: 'POST', headers: {'x-vault-token': bao.token}, body: JSON.stringify({data: {password: value}})})

  t.test('the rootfs has no node', async (t) => {
    const r = spawnSync('chroot', [cache, '/bin/sh', '-c', 'command -v node nodejs; ls /usr/bin/node* 2>/dev/null; echo done'], {encoding: 'utf8'})
    t.equal(r.stdout.trim(), 'done')
  })

  t.test('the wrapper runs there as PID 1, fetches, and execs the image\'s shell with the secret', async (t) => {
    // A new PID namespace with its own /proc, as a container runtime gives: the wrapper is PID 1.
    const r = runInRootfs({})
    t.equal(r.status, 7, `the child's exit code (stderr: ${r.stderr})`)
    const [count, zombies] = r.stdout.trim().split('\n')
    t.equal(count, '0', 'the mapped secret arrived, the parent is PID 1 (the wrapper), and no CLOUDTASER_* variable did')
    t.equal(zombies, 'zombies=0', 'the orphaned grandchild was reaped by the wrapper (N-API addon, waitid WNOWAIT)')
    t.match(r.stderr, /"event":"hardening","addon":"embedded","nonDumpable":true,"coreLimit0":true/)
    t.match(r.stderr, expectedMemory(r.stderr), 'the value was kept in memfd_secret memory (where the kernel has it)')
    t.match(r.stderr, /"spawn":"posix_spawn"/, 'and went from there to the shell by posix_spawn')
    t.notOk(r.stderr.includes(value), 'the value is not in the wrapper log')
  })

  t.test('control: without the addon the orphan stays a zombie, and the wrapper says so', async (t) => {
    const r = runInRootfs({CLOUDTASER_NATIVE_ADDON: '/nonexistent.node'})
    t.equal(r.status, 7)
    t.equal(r.stdout.trim().split('\n')[1], 'zombies=1')
    t.match(r.stderr, /"event":"hardening","addon":"unavailable"/)
    t.match(r.stderr, /"secretMemory":"v8-heap".*"spawn":"child_process"/s)
  })

  function runInRootfs(extra: Record<string, string>) {
    return spawnSync('unshare', ['--pid', '--fork', `--mount-proc=${join(cache, 'proc')}`, 'chroot', cache, '/cloudtaser/wrapper'], {
      encoding: 'utf8',
      timeout: 30_000,
      env: {
        PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        CLOUDTASER_ORIGINAL_CMD: JSON.stringify(['/bin/sh', '-c', 'test "$PGPASSWORD" = "$EXPECT" && test $PPID = 1 && env | grep -c ^CLOUDTASER_; ' +
          // An orphan: its parent exits at once, so it is re-parented to PID 1, the wrapper.
          'sh -c "sleep 0.2 &"; sleep 1.2; echo zombies=$(cat /proc/[0-9]*/stat 2>/dev/null | grep -c ") Z "); exit 7']),
        CLOUDTASER_VAULT_ADDR: bao.addr,
        CLOUDTASER_VAULT_AUTH_METHOD: 'token',
        CLOUDTASER_VAULT_TOKEN: bao.token,
        CLOUDTASER_SECRET_PATHS: 'secret/data/app/db',
        CLOUDTASER_ENV_MAP: 'password=PGPASSWORD',
        EXPECT: value,
        ...extra,
      },
    })
  }
}
