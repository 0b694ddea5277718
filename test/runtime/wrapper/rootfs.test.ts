// The static wrapper as PID 1 in three application root filesystems, each run with unshare (its own
// PID namespace and /proc, as a container runtime gives) and chroot, against the lab's OpenBao
// (loopback is shared with the chroot):
// - scratch: only the wrapper (put there by its own `install` subcommand, as the init container
//   does) and a static app: no loader, no libc, no shell;
// - musl: Debian's musl loader and an app built with musl-gcc, no glibc anywhere;
// - debootstrap: a Debian minbase (glibc) with an app built by gcc.
// In each, the app sees exactly its mapped environment, its file secret and its expanded args, its parent is PID 1,
// and the orphan it leaves behind is reaped by the wrapper.
import t, {type Test} from 'tap'
import {execFileSync, spawnSync} from 'node:child_process'
import {copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {startOpenBao} from '../../../lib/lab/index.js'
import {bao as call} from '../../lib/lab/helpers.js'
import {expectedMemory, wrapperBinary} from './helpers.js'

const source = fileURLToPath(new URL('./fixtures/app.c', import.meta.url))
const has = (cmd: string, ...args: string[]) => spawnSync(cmd, args, {stdio: 'ignore'}).status === 0
// A made Debian rootfs is reused between runs (~24 s and ~120 MB from the mirror); never holds a secret.
const debianCache = process.env.CLOUDTASER_DEBOOTSTRAP_DIR ?? join(tmpdir(), 'cloudtaser-debootstrap-bookworm')
const MUSL_LOADER = '/lib/ld-musl-x86_64.so.1'

if (process.getuid?.() !== 0 || !has('unshare', '--version') || !has('musl-gcc', '--version')) {
  t.plan(0, 'root, unshare (util-linux) and musl-gcc (musl-tools, .ci/install.d/55-wrapper-rust.sh) are needed')
} else {
  const wrapper = wrapperBinary()
  const work = mkdtempSync(join(tmpdir(), 'cloudtaser-rootfs-'))
  const bao = await startOpenBao()
  t.teardown(async () => {
    await bao.stop()
    rmSync(work, {recursive: true, force: true})
    rmSync(join(debianCache, 'cloudtaser'), {recursive: true, force: true})
    rmSync(join(debianCache, 'app'), {force: true})
    rmSync(join(debianCache, 'etc/app'), {recursive: true, force: true})
  })
  const value = `canary-rootfs-${Date.now()}`
  await call(bao.addr, bao.token, 'POST', 'secret/data/app/db', {data: {password: value}})

  t.test('the wrapper is one static executable: no PT_INTERP, no NEEDED', async (t) => {
    t.notMatch(execFileSync('readelf', ['-l', wrapper], {encoding: 'utf8'}), /INTERP/)
    t.notMatch(execFileSync('readelf', ['-d', wrapper], {encoding: 'utf8'}), /NEEDED/)
  })

  /** A root with the wrapper installed by itself and the app built by `cc`. */
  const makeRoot = (root: string, cc: string[]) => {
    mkdirSync(join(root, 'proc'), {recursive: true})
    mkdirSync(join(root, 'cloudtaser'), {recursive: true})
    execFileSync(wrapper, ['install', join(root, 'cloudtaser')], {stdio: 'ignore'})
    execFileSync(cc[0]!, [...cc.slice(1), '-O2', '-o', join(root, 'app'), source])
  }

  const run = (root: string) =>
    spawnSync('unshare', ['--pid', '--fork', `--mount-proc=${join(root, 'proc')}`, '/usr/sbin/chroot', root, '/cloudtaser/wrapper'], {
      encoding: 'utf8',
      timeout: 30_000,
      env: {
        PATH: '/usr/local/bin:/usr/bin:/bin',
        APP_MODE: 'prod',
        CLOUDTASER_ORIGINAL_CMD: JSON.stringify(['/app', '$(PGPASSWORD)', '$$(APP_MODE)', '$(APP_MODE)-$(NOPE)', '$(']),
        CLOUDTASER_VAULT_ADDR: bao.addr,
        CLOUDTASER_VAULT_AUTH_METHOD: 'token',
        CLOUDTASER_VAULT_TOKEN: bao.token,
        CLOUDTASER_SECRET_PATHS: 'secret/data/app/db',
        CLOUDTASER_ENV_MAP: 'password=PGPASSWORD',
        CLOUDTASER_FILE_MAP: JSON.stringify([{path: 'secret/data/app/db', mountPath: '/etc/app', items: [{field: 'password', file: 'key', mode: 0o440}]}]),
      },
    })

  const check = (t: Test, root: string) => {
    const r = run(root)
    t.equal(r.status, 7, `the app's exit code (stderr: ${r.stderr})`)
    const lines = r.stdout.trim().split('\n')
    t.same(lines.filter((l) => l.startsWith('arg=')), [`arg=${value}`, 'arg=$(APP_MODE)', 'arg=prod-$(NOPE)', 'arg=$('], 'args expanded with the kubelet\'s rules')
    // tap's processinfo hooks spawn() and adds its own variables to every child process.
    t.same(lines.filter((l) => l.startsWith('env=') && !/^env=(_TAPJS_|NODE_OPTIONS=)/.test(l)).sort(), ['env=APP_MODE=prod', 'env=PATH=/usr/local/bin:/usr/bin:/bin', `env=PGPASSWORD=${value}`], 'exactly the mapped environment')
    t.ok(lines.includes(`file=440:${value}`), 'the file secret, with its mode, at its mount path')
    t.ok(lines.includes('ppid=1'), 'the app\'s parent is PID 1, the wrapper')
    t.ok(lines.includes('zombies=0'), 'the orphaned grandchild was reaped by the wrapper')
    t.match(r.stderr, /"event":"hardening","dumpable":false,"coreLimit":"0:0","pid1":true/)
    t.match(r.stderr, expectedMemory(r.stderr), 'memfd_secret store where the kernel has it')
    t.notOk(r.stderr.includes(value), 'the value is not in the wrapper log')
  }

  t.test('scratch: only the wrapper and a static app', async (t) => {
    const root = join(work, 'scratch')
    makeRoot(root, ['musl-gcc', '-static'])
    t.same(readdirSync(root).sort(), ['app', 'cloudtaser', 'proc'], 'nothing else in the root')
    t.notMatch(execFileSync('readelf', ['-l', join(root, 'app')], {encoding: 'utf8'}), /INTERP/, 'the app is static too')
    check(t, root)
  })

  t.test('musl: the musl loader and a dynamic musl app, no glibc', async (t) => {
    const root = join(work, 'musl')
    makeRoot(root, ['musl-gcc'])
    mkdirSync(join(root, 'lib'), {recursive: true})
    copyFileSync(realpathSync(MUSL_LOADER), join(root, MUSL_LOADER))
    execFileSync('chmod', ['0755', join(root, MUSL_LOADER)])
    t.match(execFileSync('readelf', ['-l', join(root, 'app')], {encoding: 'utf8'}), /ld-musl-x86_64\.so\.1/, 'the app needs the musl loader')
    t.notOk(execFileSync('find', [root, '-name', 'libc.so.6', '-o', '-name', 'ld-linux*'], {encoding: 'utf8'}).trim(), 'no glibc in the root')
    check(t, root)
  })

  t.test('debootstrap: a Debian minbase (glibc) root', {skip: !has('debootstrap', '--version') && 'debootstrap (Debian package) is needed'}, async (t) => {
    if (!existsSync(join(debianCache, 'bin/sh'))) {
      rmSync(debianCache, {recursive: true, force: true})
      const r = spawnSync('debootstrap', ['--variant=minbase', 'bookworm', debianCache, process.env.DEBIAN_MIRROR ?? 'http://deb.debian.org/debian'], {stdio: 'ignore', timeout: 600_000})
      if (r.status !== 0) throw new Error(`debootstrap failed (${r.status}); is the Debian mirror reachable?`)
    }
    makeRoot(debianCache, ['gcc'])
    check(t, debianCache)
  })
}
