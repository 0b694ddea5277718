// Secrets delivered as files (CLOUDTASER_FILE_MAP) against a real OpenBao: written before the app
// starts with the recorded modes, through the kubelet's layout (`..<time>` directory, `..data`
// symlink, a symlink per visible name); a KV change swaps `..data` to a new generation before the
// app is signalled, and the old generation is gone. No value in the wrapper's log or memory.
import t from 'tap'
import {lstatSync, mkdtempSync, readdirSync, readlinkSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {startOpenBao} from '../../../lib/lab/index.js'
import {bao as call} from '../../lib/lab/helpers.js'
import {memoryHits, runWrapper, type Run} from './helpers.js'

const bao = await startOpenBao()
const dir = mkdtempSync(join(tmpdir(), 'cloudtaser-files-'))
const runs: Run[] = []
t.teardown(async () => {
  runs.forEach((r) => r.killAll())
  await bao.stop()
  rmSync(dir, {recursive: true, force: true})
})
const cert = `-----BEGIN CERTIFICATE-----\ncanary-cert-${Date.now()}\n-----END CERTIFICATE-----\n`
const key = `canary-key-${Date.now()}`
await call(bao.addr, bao.token, 'POST', 'secret/data/app/tls', {data: {'tls.crt': cert, key}})
await call(bao.addr, bao.token, 'POST', 'secret/data/app/db', {data: {password: 'pw'}})
const mount = join(dir, 'tls')
// The app prints what it reads through the visible names, at start and on SIGHUP.
const APP = `
const fs = require('node:fs')
const dump = (why) => process.stdout.write(JSON.stringify({why, env: {crt: fs.readFileSync(${JSON.stringify(join(mount, 'certs/tls.crt'))}, 'utf8'), key: fs.readFileSync(${JSON.stringify(join(mount, 'key'))}, 'utf8')}}) + '\\n')
dump('start')
process.on('SIGHUP', () => dump('hup'))
process.on('SIGTERM', () => process.exit(42))
setInterval(() => {}, 1000)
`

t.test('files before the start, modes kept, an atomic swap on change, no value in log or memory', async (t) => {
  const r = runWrapper({
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    CLOUDTASER_ORIGINAL_CMD: JSON.stringify([process.execPath, '-e', APP]),
    CLOUDTASER_VAULT_ADDR: bao.addr,
    CLOUDTASER_VAULT_AUTH_METHOD: 'token',
    CLOUDTASER_VAULT_TOKEN: bao.token,
    CLOUDTASER_SECRET_PATHS: 'secret/data/app/db',
    CLOUDTASER_ON_SECRET_CHANGE: 'sighup',
    CLOUDTASER_POLL_INTERVAL: '200ms',
    CLOUDTASER_FILE_MAP: JSON.stringify([{path: 'secret/data/app/tls', mountPath: mount, items: [{field: 'tls.crt', file: 'certs/tls.crt', mode: 0o400}, {field: 'key'}], defaultMode: 0o600}]),
  })
  runs.push(r)
  const first = await r.waitFor('start')
  t.same(first.env, {crt: cert, key}, 'the app read both files at its start')
  t.equal(readlinkSync(join(mount, 'key')), '..data/key', 'visible names link through ..data')
  t.equal(readlinkSync(join(mount, 'certs')), '..data/certs')
  const gen1 = readlinkSync(join(mount, '..data'))
  t.match(gen1, /^\.\.\d+_\d+$/, '..data points at a generation directory')
  t.equal(statSync(join(mount, 'certs/tls.crt')).mode & 0o777, 0o400, 'the item mode')
  t.equal(statSync(join(mount, 'key')).mode & 0o777, 0o600, 'the default mode')
  t.ok(lstatSync(join(mount, 'key')).isSymbolicLink())

  const key2 = `canary-key2-${Date.now()}`
  await call(bao.addr, bao.token, 'POST', 'secret/data/app/tls', {data: {'tls.crt': cert, key: key2}})
  const hup = await r.waitFor('hup', 1, 15_000)
  t.equal(hup.env!.key, key2, 'the new file was in place when SIGHUP arrived')
  const gen2 = readlinkSync(join(mount, '..data'))
  t.not(gen2, gen1, 'a new generation')
  t.same(readdirSync(mount).sort(), [gen2, '..data', 'certs', 'key'].sort(), 'the old generation is removed, no temporary link left')
  const log = r.stderr.join('')
  t.match(log, /"event":"files_written","mounts":1,"files":2/)
  for (const v of [key, key2, 'canary-cert-']) t.notOk(log.includes(v), 'no value in the log')
  await new Promise((res) => setTimeout(res, 300))
  for (const v of [key, key2]) t.equal(memoryHits(r.proc.pid!, Buffer.from(v)).hits, 0, 'no copy in the wrapper\'s memory')
  r.proc.kill('SIGTERM')
  t.equal(await r.exit, 42)
})

t.test('a field the secret lacks: exit 3 naming it, nothing left behind, the app never starts', async (t) => {
  const m = join(dir, 'bad')
  const r = runWrapper({
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    CLOUDTASER_ORIGINAL_CMD: JSON.stringify(['/bin/true']),
    CLOUDTASER_VAULT_ADDR: bao.addr,
    CLOUDTASER_VAULT_AUTH_METHOD: 'token',
    CLOUDTASER_VAULT_TOKEN: bao.token,
    CLOUDTASER_SECRET_PATHS: 'secret/data/app/db',
    CLOUDTASER_FILE_MAP: JSON.stringify([{path: 'secret/data/app/tls', mountPath: m, items: [{field: 'key'}, {field: 'nope'}]}]),
  })
  runs.push(r)
  t.equal(await r.exit, 3)
  t.match(r.stderr.join(''), /WRAPPER_FIELD_MISSING.*no field \\"nope\\"/)
  t.same(readdirSync(m), [], 'the half-written generation was removed')
})
