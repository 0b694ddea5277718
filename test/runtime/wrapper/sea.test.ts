// The shipped form: build the single executable (no Node needed where it runs) and run the whole
// wrapper integration test against it instead of the TypeScript source.
import t from 'tap'
import {execFileSync} from 'node:child_process'
import {mkdtempSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const out = mkdtempSync(join(tmpdir(), 'cloudtaser-sea-'))
t.teardown(() => rmSync(out, {recursive: true, force: true}))
const bin = execFileSync(join(root, 'runtime/wrapper/build-sea.sh'), [out], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore']}).trim()
t.ok(statSync(bin).size > 10_000_000, `built ${bin}`)
const tsLoader = process.execArgv.find((a) => a.includes('@tapjs/typescript'))!
t.spawn(process.execPath, [tsLoader, join(root, 'test/runtime/wrapper/wrapper.test.ts')], {env: {...process.env, CLOUDTASER_WRAPPER_BIN: bin}}, 'wrapper.test.ts with the single executable')
