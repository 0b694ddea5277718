// Streaming bodies through AES-GCM allocates a few 64 KiB buffers per segment. V8 frees an
// ArrayBuffer's memory only when a GC finds it dead, and the small JavaScript objects a stream
// allocates fill the young generation so slowly that, left alone, gigabytes of buffers pass before
// a scavenge: RSS climbs by 100+ MB on a large transfer. A minor GC (a scavenge, ~1 ms) every
// few MiB moved keeps the proxy's memory flat. Measured in bench/s3-proxy.mjs (docs/s3-proxy.md).
import {setFlagsFromString} from 'node:v8'
import {runInNewContext} from 'node:vm'

type Gc = (options?: {type?: 'major' | 'minor'; execution?: 'sync' | 'async'}) => void
let gc: Gc | undefined
function load(): Gc {
  if (!gc) {
    setFlagsFromString('--expose-gc')
    gc = runInNewContext('gc') as Gc
  }
  return gc
}

const EVERY = 2 * 1024 * 1024
let moved = 0

/** Counts bytes streamed; every EVERY bytes, a scavenge frees the buffers that are done. */
export function released(bytes: number): void {
  moved += bytes
  if (moved < EVERY) return
  moved = 0
  load()({type: 'minor'})
}

/**
 * Frees a buffer's memory at once if it is the whole of its ArrayBuffer (never a slice of a shared
 * pool): detaching the ArrayBuffer releases its backing store. For buffers a socket has written
 * and nothing else holds: queued on a socket they outlive scavenges, and without this only a
 * mark-compact would free them.
 */
export function free(b: Buffer): void {
  const ab = b.buffer as ArrayBuffer & {detached: boolean; transfer(length: number): ArrayBuffer}
  if (b.byteOffset === 0 && b.byteLength === ab.byteLength && !ab.detached) ab.transfer(0)
}
