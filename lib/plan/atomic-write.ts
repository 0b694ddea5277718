import {randomBytes} from 'node:crypto'
import {open, readdir, rename, stat, unlink} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'

export interface AtomicWriteHooks {
  /** Called after the temporary file is durable and before it replaces the target. Tests crash here. */
  beforeRename?: (tempPath: string) => void | Promise<void>
}

const tempPrefix = (file: string): string => `.${basename(file)}.tmp-`

/**
 * Writes a file so that readers see either the old or the new content, never a mix or nothing:
 * temp file in the same directory, fsync, rename over the target, fsync the directory.
 */
export async function writeFileAtomic(file: string, text: string | Uint8Array, hooks: AtomicWriteHooks = {}): Promise<void> {
  const dir = dirname(file)
  const temp = join(dir, `${tempPrefix(file)}${process.pid}-${randomBytes(4).toString('hex')}`)
  const mode = await stat(file).then((s) => s.mode & 0o777, () => 0o644)
  const fh = await open(temp, 'wx', mode)
  try {
    await fh.writeFile(text)
    await fh.sync()
  } finally {
    await fh.close()
  }
  try {
    await hooks.beforeRename?.(temp)
    await rename(temp, file)
  } catch (err) {
    await unlink(temp).catch(() => undefined)
    throw err
  }
  const dh = await open(dir, 'r')
  try {
    await dh.sync()
  } finally {
    await dh.close()
  }
  await removeStaleTemps(file)
}

/** Temp files left by a process that was killed mid-write; never the one a live writer owns. */
async function removeStaleTemps(file: string): Promise<void> {
  const prefix = tempPrefix(file)
  const names = await readdir(dirname(file)).catch(() => [] as string[])
  for (const name of names) {
    if (!name.startsWith(prefix)) continue
    const pid = Number(name.slice(prefix.length).split('-')[0])
    if (pid === process.pid || isAlive(pid)) continue
    await unlink(join(dirname(file), name)).catch(() => undefined)
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
