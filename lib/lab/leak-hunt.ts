import {lstat, open, readdir} from 'node:fs/promises'
import {readFileSync} from 'node:fs'
import {join, resolve} from 'node:path'

/**
 * The leak hunt: every byte of every regular file under the given roots searched for canary
 * values, as written and in base64 at each of its three alignments (Kubernetes keeps Secret data
 * raw in etcd, but last-applied-configuration, JSON and logs may hold either). Read from the
 * files themselves, not through a server: etcd's bbolt file and WAL, containerd's and the
 * kubelet's state, Pod logs. Memory-backed mounts under a root (a Pod's emptyDir with medium
 * Memory) are node RAM, not disk: they are listed in `inMemory`, not searched.
 */
export interface HuntHit {
  path: string
  canary: string
  encoding: 'plain' | 'base64'
}

export interface HuntResult {
  hits: HuntHit[]
  files: number
  bytes: number
  inMemory: string[]
}

export async function huntCanaries(roots: string[], canaries: string[]): Promise<HuntResult> {
  const needles = canaries.flatMap((canary) => [
    {canary, encoding: 'plain' as const, bytes: Buffer.from(canary)},
    ...base64Forms(canary).map((b) => ({canary, encoding: 'base64' as const, bytes: Buffer.from(b)})),
  ])
  const memory = memoryMounts()
  const result: HuntResult = {hits: [], files: 0, bytes: 0, inMemory: []}
  const seen = new Set<string>()
  const walk = async (path: string, top: boolean): Promise<void> => {
    if (seen.has(path)) return
    seen.add(path)
    if (!top && memory.has(path)) {
      result.inMemory.push(path)
      return
    }
    const st = await lstat(path).catch(() => undefined)
    if (!st) return // removed while we walked (a Pod's state, a log rotated)
    if (st.isDirectory()) {
      for (const name of await readdir(path).catch(() => [])) await walk(join(path, name), false)
      return
    }
    if (!st.isFile()) return
    const data = await readWhole(path)
    if (!data) return
    result.files++
    result.bytes += data.length
    for (const n of needles) {
      if (data.includes(n.bytes) && !result.hits.some((h) => h.path === path && h.canary === n.canary && h.encoding === n.encoding)) {
        result.hits.push({path, canary: n.canary, encoding: n.encoding})
      }
    }
  }
  for (const root of roots) await walk(resolve(root), true)
  return result
}

/** The part of base64(x + canary) that does not depend on x, for x of 0, 1 and 2 bytes. */
export function base64Forms(canary: string): string[] {
  const raw = Buffer.from(canary)
  return [0, 1, 2].map((pad) => {
    const b64 = Buffer.concat([Buffer.alloc(pad), raw]).toString('base64')
    // Characters touched by the padding bytes or by whatever follows vary: keep the stable middle.
    const start = Math.ceil((pad * 4) / 3)
    const end = Math.floor(((pad + raw.length) * 4) / 3)
    return b64.slice(start, end)
  })
}

async function readWhole(path: string): Promise<Buffer | undefined> {
  const fh = await open(path, 'r').catch(() => undefined)
  if (!fh) return undefined
  try {
    return await fh.readFile()
  } catch {
    return undefined
  } finally {
    await fh.close()
  }
}

/** Mount points whose filesystem lives in RAM (tmpfs, ramfs). */
function memoryMounts(): Set<string> {
  const out = new Set<string>()
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ')
    if (!left || !right) continue
    const fstype = right.split(' ')[0]
    if (fstype === 'tmpfs' || fstype === 'ramfs') out.add(left.split(' ')[4]!.replace(/\\040/g, ' '))
  }
  return out
}
