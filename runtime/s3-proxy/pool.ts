// Reused buffers for the 1 MiB chunks a transfer moves. A buffer still queued on a socket is alive
// when the next scavenge runs, so V8 promotes it and only a full mark-compact frees it: with a
// fresh buffer per MiB, tens of MB of dead chunks piled up between mark-compacts (proxy RSS during
// a 1 GiB transfer), and the mark-compacts were the largest CPU cost after the crypto. A chunk is
// taken here and given back once its socket has written it; what remains (cipher output, socket
// reads) dies young.
export interface Pool {
  /** A `size`-byte buffer; its contents are whatever the last user left. */
  take(): Buffer
  /** Give back a buffer from take() (or a view of it) once nothing reads its bytes any more. */
  give(b: Buffer): void
}

export function createPool(size: number, keep: number): Pool {
  const free: ArrayBuffer[] = []
  return {
    take: () => {
      const ab = free.pop()
      return ab ? Buffer.from(ab) : Buffer.allocUnsafeSlow(size)
    },
    give: (b) => {
      const ab = b.buffer as ArrayBuffer
      if (ab.byteLength === size && free.length < keep && !free.includes(ab)) free.push(ab)
    },
  }
}
