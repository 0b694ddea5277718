// Backpressure with a deeper buffer than Node's 16 KiB default. A body crosses three processes
// (client, proxy, server); with small buffers every 64 KiB segment waits for each of them to be
// scheduled, which on a busy node caps throughput at a fraction of what the CPU allows. Up to
// BUFFERED bytes per request may wait in a socket's queue: memory stays flat in the object size.
import {once} from 'node:events'
import type {Writable} from 'node:stream'

export const BUFFERED = 2 * 1024 * 1024
/** Bytes gathered into one writev. */
export const BATCH = 1024 * 1024
/** Socket read buffers: the same depth on the reading side. */
export const HIGH_WATER_MARK = 1024 * 1024

/** Writes `b`; waits for 'drain' only once more than BUFFERED bytes are queued (or `abort` settles). */
export async function writeFlow(w: Writable, b: Buffer | string, abort?: Promise<unknown>): Promise<void> {
  w.write(b)
  await flow(w, abort)
}

/** Waits for 'drain' only if more than BUFFERED bytes are queued (after writes made some other way, e.g. corked). */
export async function flow(w: Writable, abort?: Promise<unknown>): Promise<void> {
  if (w.writableLength > BUFFERED && !w.destroyed) await (abort ? Promise.race([once(w, 'drain'), abort]) : once(w, 'drain'))
}

