// Binary values (CLOUDTASER_BASE64_FIELDS, from the plan's base64Fields through protect and the
// webhook) against a real OpenBao: a keystore stored base64-encoded by `target migrate` reaches a
// file byte for byte and an env var decoded; a decoded NUL cannot go into an env var (exit 3,
// named, never shown); text that is not base64 is refused rather than delivered half-decoded.
import t from 'tap'
import {createHash, randomBytes} from 'node:crypto'
import {mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {startOpenBao} from '../../../lib/lab/index.js'
import {bao as call} from '../../lib/lab/helpers.js'
import {runWrapper, type Run} from './helpers.js'

const bao = await startOpenBao()
const dir = mkdtempSync(join(tmpdir(), 'cloudtaser-binary-'))
const runs: Run[] = []
t.teardown(async () => {
  runs.forEach((r) => r.killAll())
  await bao.stop()
  rmSync(dir, {recursive: true, force: true})
})
// Every byte value but NUL, shuffled, and 900 KiB of random bytes: what a JKS or DER file holds.
const noNul = Buffer.from(randomBytes(4096).filter((b) => b !== 0))
const keystore = Buffer.concat([randomBytes(900 * 1024), Buffer.from([0, 0xff, 0xfe])])
await call(bao.addr, bao.token, 'POST', 'secret/data/app/bin', {data: {'keystore.jks': keystore.toString('base64'), token: noNul.toString('base64'), user: 'plain-text'}})
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
const mount = join(dir, 'ks')
const APP = `
const fs = require('node:fs'), c = require('node:crypto')
const sha = (b) => c.createHash('sha256').update(b).digest('hex')
// process.env decodes UTF-8 (lossy for binary): the raw bytes are in /proc/self/environ.
const raw = fs.readFileSync('/proc/self/environ')
let token
for (let at = 0; at < raw.length; ) {
  const end = raw.indexOf(0, at)
  const entry = raw.subarray(at, end)
  if (entry.subarray(0, 6).toString() === 'TOKEN=') token = entry.subarray(6)
  at = end + 1
}
process.stdout.write(JSON.stringify({why: 'start', env: {file: sha(fs.readFileSync(${JSON.stringify(join(mount, 'keystore.jks'))})), token: sha(token), tokenLength: token.length, user: process.env.USER_NAME}}) + '\\n')
setInterval(() => {}, 1000)
`
const base = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  CLOUDTASER_VAULT_ADDR: bao.addr,
  CLOUDTASER_VAULT_AUTH_METHOD: 'token',
  CLOUDTASER_VAULT_TOKEN: bao.token,
}

t.test('decoded byte for byte into a file and an env var; other fields as they are', async (t) => {
  const r = runWrapper({
    ...base,
    CLOUDTASER_ORIGINAL_CMD: JSON.stringify([process.execPath, '-e', APP]),
    CLOUDTASER_SECRET_PATHS: 'secret/data/app/bin',
    CLOUDTASER_ENV_MAP: 'token=TOKEN,user=USER_NAME',
    CLOUDTASER_FILE_MAP: JSON.stringify([{path: 'secret/data/app/bin', mountPath: mount, items: [{field: 'keystore.jks'}]}]),
    CLOUDTASER_BASE64_FIELDS: JSON.stringify({'secret/data/app/bin': ['keystore.jks', 'token']}),
  })
  runs.push(r)
  const start = await r.waitFor('start')
  t.same(start.env, {file: sha(keystore), token: sha(noNul), tokenLength: noNul.length, user: 'plain-text'})
  t.equal(readFileSync(join(mount, 'keystore.jks')).length, keystore.length, 'the file is the decoded length')
  r.killAll()
})

t.test('a decoded NUL cannot go into an env var: exit 3 naming the field, the app never starts', async (t) => {
  const r = runWrapper({
    ...base,
    CLOUDTASER_ORIGINAL_CMD: JSON.stringify([process.execPath, '-e', APP]),
    CLOUDTASER_SECRET_PATHS: 'secret/data/app/bin',
    CLOUDTASER_ENV_MAP: 'keystore.jks=KS',
    CLOUDTASER_BASE64_FIELDS: JSON.stringify({'secret/data/app/bin': ['keystore.jks']}),
  })
  runs.push(r)
  t.equal(await r.exit, 3)
  const log = r.stderr.join('')
  t.match(log, /WRAPPER_SECRET_NUL.*field \\"keystore\.jks\\" of secret\/data\/app\/bin \(mapped to KS\) holds a NUL/)
  t.notOk(r.lines.some((l) => l.why === 'start'))
  t.notOk(log.includes(keystore.subarray(0, 12).toString('base64')), 'no value in the log')
})

t.test('a listed field that is not base64 is refused, no half-decoded file left', async (t) => {
  const m = join(dir, 'bad')
  const r = runWrapper({
    ...base,
    CLOUDTASER_ORIGINAL_CMD: JSON.stringify(['/bin/true']),
    CLOUDTASER_FILE_MAP: JSON.stringify([{path: 'secret/data/app/bin', mountPath: m, items: [{field: 'user'}]}]),
    CLOUDTASER_BASE64_FIELDS: JSON.stringify({'secret/data/app/bin': ['user']}),
  })
  runs.push(r)
  t.equal(await r.exit, 3)
  t.match(r.stderr.join(''), /WRAPPER_SECRET_BASE64.*field \\"user\\" of secret\/data\/app\/bin is listed in cloudtaser\.io\/base64-fields but is not valid base64/)
  t.same(readdirSync(m), [], 'the generation was removed')
})
