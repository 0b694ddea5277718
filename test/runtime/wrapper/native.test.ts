// The native delivery path from source: build the addon with gcc (as build-sea.sh does) and run
// the wrapper integration, resilience, TLS and version-poll tests again with CLOUDTASER_NATIVE_ADDON pointing at it,
// so every behaviour (signals, exit codes, restart, SIGHUP, renewal, outages) holds on both paths.
import t from 'tap'
import {rmSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {buildAddon} from './helpers.js'

const here = fileURLToPath(new URL('.', import.meta.url))
const {path, dir} = buildAddon()
t.teardown(() => rmSync(dir, {recursive: true, force: true}))
const tsLoader = process.execArgv.find((a) => a.includes('@tapjs/typescript'))!
for (const file of ['wrapper.test.ts', 'resilience.test.ts', 'tls.test.ts', 'version-poll.test.ts']) {
  t.spawn(process.execPath, [tsLoader, join(here, file)], {env: {...process.env, CLOUDTASER_NATIVE_ADDON: path}}, `${file} with the addon (memfd_secret + posix_spawn)`)
}
