import {createHash} from 'node:crypto'
import {existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {gzipSync} from 'node:zlib'

/**
 * A small OCI image writer: layers are tar streams we write ourselves, so every byte is a
 * function of the files' paths, modes and contents (mtime 0, owner 0:0, sorted entries, fixed
 * gzip level). The same inputs give the same digest on any machine, without Docker, umoci's
 * timestamps or tar's host-dependent headers. The result is an OCI image layout that skopeo
 * copies to any registry.
 */
export type LayerEntry =
  | {type: 'file'; path: string; mode?: number; content: Buffer}
  | {type: 'dir'; path: string; mode?: number}
  | {type: 'symlink'; path: string; target: string}

export interface ImageConfig {
  entrypoint?: string[]
  cmd?: string[]
  env?: string[]
  workingDir?: string
  user?: string
  exposedPorts?: string[]
  labels?: Record<string, string>
}

export interface Descriptor {
  mediaType: string
  digest: string
  size: number
  annotations?: Record<string, string>
}

export interface BuiltImage {
  /** The OCI image layout directory (skopeo: `oci:<layout>:<tag>`). */
  layout: string
  tag: string
  /** sha256:... of the manifest: what a registry reports and a Pod's imageID shows. */
  digest: string
  /** Compressed bytes of all layers. */
  size: number
}

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`

/** Tar (ustar, PAX records for long names) of the entries, parents first, sorted. */
export function tarLayer(entries: LayerEntry[]): Buffer {
  const byPath = new Map<string, LayerEntry>()
  for (const e of entries) {
    const path = e.path.replace(/^\/+/, '').replace(/\/+$/, '')
    // Every parent directory gets its own entry, so extraction never invents one with odd modes.
    const parts = path.split('/')
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/')
      if (!byPath.has(parent)) byPath.set(parent, {type: 'dir', path: parent})
    }
    byPath.set(path, {...e, path})
  }
  const blocks: Buffer[] = []
  for (const path of [...byPath.keys()].sort()) {
    const e = byPath.get(path)!
    const name = e.type === 'dir' ? `${path}/` : path
    const body = e.type === 'file' ? e.content : Buffer.alloc(0)
    const link = e.type === 'symlink' ? e.target : ''
    if (Buffer.byteLength(name) > 100 || Buffer.byteLength(link) > 100) {
      const pax = paxRecords({...(Buffer.byteLength(name) > 100 ? {path: name} : {}), ...(Buffer.byteLength(link) > 100 ? {linkpath: link} : {})})
      blocks.push(header({name: 'PaxHeader', mode: 0o644, size: pax.length, type: 'x', link: ''}), pad(pax))
    }
    const mode = e.type === 'symlink' ? 0o777 : (e.mode ?? (e.type === 'dir' ? 0o755 : 0o644))
    blocks.push(header({name: name.slice(0, 100), mode, size: body.length, type: e.type === 'file' ? '0' : e.type === 'dir' ? '5' : '2', link: link.slice(0, 100)}))
    if (body.length) blocks.push(pad(body))
  }
  blocks.push(Buffer.alloc(1024))
  return Buffer.concat(blocks)
}

function paxRecords(records: Record<string, string>): Buffer {
  let out = ''
  for (const [k, v] of Object.entries(records)) {
    const rest = ` ${k}=${v}\n`
    // The length prefix counts itself.
    let len = Buffer.byteLength(rest) + 1
    while (String(len).length + Buffer.byteLength(rest) !== len) len++
    out += `${len}${rest}`
  }
  return Buffer.from(out)
}

function header(h: {name: string; mode: number; size: number; type: string; link: string}): Buffer {
  const b = Buffer.alloc(512)
  const put = (s: string, off: number, len: number) => b.write(s, off, len, 'utf8')
  const octal = (n: number, off: number, len: number) => put(`${n.toString(8).padStart(len - 1, '0')}\0`, off, len)
  put(h.name, 0, 100)
  octal(h.mode, 100, 8)
  octal(0, 108, 8) // uid
  octal(0, 116, 8) // gid
  octal(h.size, 124, 12)
  octal(0, 136, 12) // mtime
  put(' '.repeat(8), 148, 8)
  put(h.type, 156, 1)
  put(h.link, 157, 100)
  put('ustar\0', 257, 6)
  put('00', 263, 2)
  let sum = 0
  for (const byte of b) sum += byte
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8)
  return b
}

const pad = (b: Buffer) => (b.length % 512 ? Buffer.concat([b, Buffer.alloc(512 - (b.length % 512))]) : b)

/**
 * gzip -9 of a layer, by the layer's digest: the same tar always compresses to the same bytes, and
 * compressing is nearly all of an image's build time (the cloudtaser image's 132 MB layer: tar
 * 0.14 s, SHA-256 0.07 s, gzip 9.7 s), which every lab run paid again for unchanged layers and the
 * ebpf-agent image paid a second time for the cloudtaser layers it shares. Entries unused for a
 * week are removed.
 */
export class GzipCache {
  constructor(readonly dir: string) {}

  gzip(tar: Buffer, diffId: string): Buffer {
    const path = join(this.dir, `${diffId.slice(7)}.gz`)
    if (existsSync(path)) {
      const now = new Date()
      utimesSync(path, now, now)
      return readFileSync(path)
    }
    const gz = gzipSync(tar, {level: 9})
    mkdirSync(this.dir, {recursive: true})
    // Written whole, then renamed: a concurrent build reads either nothing or the whole blob.
    const tmp = `${path}.tmp-${process.pid}`
    writeFileSync(tmp, gz)
    renameSync(tmp, path)
    this.prune()
    return gz
  }

  private prune(): void {
    const old = Date.now() - 7 * 24 * 3600_000
    for (const name of readdirSync(this.dir)) {
      const p = join(this.dir, name)
      if ((statSync(p, {throwIfNoEntry: false})?.mtimeMs ?? Infinity) < old) rmSync(p, {force: true})
    }
  }
}

/**
 * Writes an OCI image layout with one manifest (linux/amd64) tagged `tag` into `layout`,
 * replacing what was there. Returns the manifest digest.
 */
export function writeImage(layout: string, tag: string, layers: LayerEntry[][], config: ImageConfig, gzipCache?: GzipCache): BuiltImage {
  const tmp = `${layout}.tmp-${process.pid}`
  rmSync(tmp, {recursive: true, force: true})
  const blobs = join(tmp, 'blobs', 'sha256')
  mkdirSync(blobs, {recursive: true})
  const putBlob = (data: Buffer | string, mediaType: string): Descriptor => {
    const digest = sha256(data)
    writeFileSync(join(blobs, digest.slice(7)), data)
    return {mediaType, digest, size: Buffer.byteLength(data)}
  }
  const diffIds: string[] = []
  const layerDescs: Descriptor[] = []
  for (const entries of layers) {
    const tar = tarLayer(entries)
    const diffId = sha256(tar)
    diffIds.push(diffId)
    layerDescs.push(putBlob(gzipCache ? gzipCache.gzip(tar, diffId) : gzipSync(tar, {level: 9}), 'application/vnd.oci.image.layer.v1.tar+gzip'))
  }
  const imageConfig = {
    created: '1970-01-01T00:00:00Z',
    architecture: 'amd64',
    os: 'linux',
    config: {
      ...(config.entrypoint ? {Entrypoint: config.entrypoint} : {}),
      ...(config.cmd ? {Cmd: config.cmd} : {}),
      Env: config.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      ...(config.workingDir ? {WorkingDir: config.workingDir} : {}),
      ...(config.user ? {User: config.user} : {}),
      ...(config.exposedPorts ? {ExposedPorts: Object.fromEntries(config.exposedPorts.map((p) => [p, {}]))} : {}),
      ...(config.labels ? {Labels: config.labels} : {}),
    },
    rootfs: {type: 'layers', diff_ids: diffIds},
  }
  const configDesc = putBlob(JSON.stringify(imageConfig), 'application/vnd.oci.image.config.v1+json')
  const manifest = JSON.stringify({schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: configDesc, layers: layerDescs})
  const manifestDesc = putBlob(manifest, 'application/vnd.oci.image.manifest.v1+json')
  writeFileSync(join(tmp, 'oci-layout'), JSON.stringify({imageLayoutVersion: '1.0.0'}))
  const index = {schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{...manifestDesc, annotations: {'org.opencontainers.image.ref.name': tag}}]}
  writeFileSync(join(tmp, 'index.json'), JSON.stringify(index))
  mkdirSync(dirname(layout), {recursive: true})
  rmSync(layout, {recursive: true, force: true})
  renameSync(tmp, layout)
  return {layout, tag, digest: manifestDesc.digest, size: layerDescs.reduce((n, d) => n + d.size, 0)}
}
