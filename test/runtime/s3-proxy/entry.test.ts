// `cloudtaser s3-proxy run` as the image starts it (node bin/run.js ...) takes the oclif-free entry
// (runtime/s3-proxy/main.ts): proven by a module hook that reports every @oclif module loaded.
// Flags come from one table (runtime/s3-proxy/options.ts) for both that entry and oclif's --help.
import t from 'tap'
import {execFile} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {Config} from '@oclif/core'
import {repoRoot} from '../../../lib/lab/index.js'
import {parseS3ProxyArgs, S3_PROXY_FLAGS} from '../../../runtime/s3-proxy/options.js'
import {isolatedEnv} from '../../helpers/cli.js'

const run = promisify(execFile)
const dir = mkdtempSync(join(tmpdir(), 'cloudtaser-s3-entry-'))
t.teardown(() => rmSync(dir, {recursive: true, force: true}))
// Writes "OCLIF-LOADED" to stderr whenever a module under @oclif is resolved.
const hook = join(dir, 'hook.mjs')
writeFileSync(hook, `import {registerHooks} from 'node:module'\nimport {writeSync} from 'node:fs'\nregisterHooks({resolve(s, c, next) { const r = next(s, c); if (r.url.includes('@oclif')) writeSync(2, 'OCLIF-LOADED\\n'); return r }})\n`)

const cli = async (args: string[]) => {
  try {
    const r = await run(process.execPath, ['--import', hook, 'bin/run.js', ...args], {cwd: repoRoot(), env: isolatedEnv({})})
    return {code: 0, stdout: r.stdout, stderr: r.stderr}
  } catch (err) {
    const e = err as {code: number; stdout: string; stderr: string}
    return {code: e.code, stdout: e.stdout, stderr: e.stderr}
  }
}

t.test('s3-proxy run starts without oclif, and reports errors as every command does', async (t) => {
  const missingRole = await cli(['s3-proxy', 'run', '--upstream', 'http://127.0.0.1:1', '--transit-key', 'k', '--json'])
  t.equal(missingRole.code, 2, 'exit 2 (usage)')
  t.equal(JSON.parse(missingRole.stdout).error.code, 'USAGE')
  t.match(JSON.parse(missingRole.stdout).error.message, /--bao-role is required/)
  t.notMatch(missingRole.stderr, /OCLIF-LOADED/, 'no @oclif module was loaded')

  const bad = await cli(['s3-proxy', 'run', '--upstream', 'http://127.0.0.1:1', '--transit-key', 'k', '--port', 'x'])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /^Error \[USAGE\]: --port must be an integer/m)
  t.notMatch(bad.stderr, /OCLIF-LOADED/)

  // The hook does see oclif when it loads: the check above can fail.
  const help = await cli(['s3-proxy', 'run', '--help'])
  t.equal(help.code, 0)
  t.match(help.stderr, /OCLIF-LOADED/, '--help goes through oclif')
  for (const name of Object.keys(S3_PROXY_FLAGS)) t.match(help.stdout, `--${name}`, `--help lists --${name}`)
})

t.test('one flag table: the parser and the oclif command agree on every default', async (t) => {
  const config = await Config.load({root: repoRoot()})
  const oclif = config.findCommand('s3-proxy:run')!
  const parsed = parseS3ProxyArgs(['--upstream', 'https://s3.example', '--transit-key', 'k'])
  for (const [name, f] of Object.entries(oclif.flags)) {
    if (name === 'json') continue
    t.equal(Boolean(f.required), name === 'upstream' || name === 'transit-key', `--${name} required`)
    // oclif's manifest leaves a boolean's false default out.
    if (!f.required) t.same(parsed[name as keyof typeof parsed], f.type === 'boolean' ? (f.default ?? false) : f.default, `--${name} default`)
  }
  t.same(Object.keys(oclif.flags).filter((n) => n !== 'json').sort(), Object.keys(S3_PROXY_FLAGS).sort())
  t.throws(() => parseS3ProxyArgs(['--upstream', 'x', '--transit-key', 'k', '--nope']), {code: 'USAGE'})
  t.throws(() => parseS3ProxyArgs(['--transit-key', 'k']), {code: 'USAGE', message: /--upstream/})
  t.throws(() => parseS3ProxyArgs(['--upstream', 'x', '--transit-key', 'k', '--bao-auth', 'ldap']), {code: 'USAGE', message: /kubernetes, token/})
  t.throws(() => parseS3ProxyArgs(['--upstream', 'x', '--transit-key', 'k', '--port', '70000']), {code: 'USAGE'})
  t.equal(parseS3ProxyArgs(['--upstream', 'x', '--transit-key', 'k', '--no-pad', '--port', '0']).port, 0)
})
