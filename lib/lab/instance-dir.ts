import {mkdtempSync, readdirSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {alive} from './binary.js'
import {trackDir} from './process.js'

const PREFIX = 'cloudtaser-lab-'

/**
 * A fresh directory under os.tmpdir() for one lab instance, named with our pid so parallel
 * test files never share one and so a later run can sweep directories whose owner was killed
 * too hard to clean up (SIGKILL skips every exit hook). Returns the remover.
 */
export function makeInstanceDir(kind: string): {dir: string; remove: () => void} {
  sweepStale()
  const dir = mkdtempSync(join(tmpdir(), `${PREFIX}${process.pid}-${kind}-`))
  const untrack = trackDir(dir)
  return {
    dir,
    remove: () => {
      rmSync(dir, {recursive: true, force: true, maxRetries: 3})
      untrack()
    },
  }
}

function sweepStale(): void {
  let entries: string[]
  try {
    entries = readdirSync(tmpdir())
  } catch {
    return
  }
  for (const name of entries) {
    const m = /^cloudtaser-lab-(\d+)-/.exec(name)
    if (m && !alive(Number(m[1]))) rmSync(join(tmpdir(), name), {recursive: true, force: true})
  }
}
