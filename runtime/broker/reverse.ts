// Reverse-connect, broker side: the bridge dials the broker's external endpoint (LoadBalancer or
// NodePort) instead of a beacon, and the broker plays the beacon's part for its own two rooms.
// Same hello, same status frames, same TLS inside: the bridge cannot tell the difference, and
// nothing past the hello is new code. The endpoint is open to the internet, so everything before
// the pinned mTLS is bounded: a hello in 10 s, a few waiting connections per room, rooms other
// than this cluster's refused at once.
import net from 'node:net'
import {BeaconError, type BeaconDialOptions} from '../beacon/client.js'
import type {Logger} from '../beacon/log.js'
import {encodeStatus, parseHello, Status} from '../beacon/protocol.js'

export interface ReverseListenerOptions {
  host: string
  port: number
  /** The rooms this broker will ask for (init by fingerprint, operational by the CA pin); others are refused. */
  rooms: Buffer[]
  logger: Logger
  helloTimeoutMs?: number
  /** How long a bridge waits unpaired before MATCH_TIMEOUT (it redials, as with a beacon). */
  waitMs?: number
  maxWaitingPerRoom?: number
  maxConnections?: number
}

export interface ReverseListener {
  port: number
  /** A dial for runBeaconClient and the bootstrap: resolves with the next bridge in that room. */
  accept: NonNullable<BeaconDialOptions['dial']>
  close(): Promise<void>
}

interface Waiting {
  sock: net.Socket
  timer: NodeJS.Timeout
}

const MAX_HELLO = 1024

export async function listenReverse(o: ReverseListenerOptions): Promise<ReverseListener> {
  const log = o.logger
  const rooms = new Map(o.rooms.map((r) => [r.toString('hex'), {bridges: [] as Waiting[], takers: [] as Array<(s: net.Socket) => void>}]))
  const open = new Set<net.Socket>()

  const refuse = (sock: net.Socket, status: number, reason: string) => {
    log('warn', 'reverse_refused', {peer: sock.remoteAddress, reason})
    sock.end(encodeStatus(status))
    setTimeout(() => sock.destroy(), 1_000).unref()
  }

  /** Hands a bridge to a taker: PAIRED, then the socket is theirs (paused, like a beacon dial's). */
  const pair = (sock: net.Socket, take: (s: net.Socket) => void) => {
    sock.removeAllListeners('data')
    sock.removeAllListeners('end')
    sock.pause()
    sock.write(encodeStatus(Status.PAIRED))
    take(sock)
  }

  const server = net.createServer({allowHalfOpen: true, noDelay: true}, (sock) => {
    if (open.size >= (o.maxConnections ?? 64)) return refuse(sock, Status.BEACON_FULL, 'too many connections')
    open.add(sock)
    sock.once('close', () => open.delete(sock))
    sock.on('error', () => sock.destroy())
    let buf = Buffer.alloc(0)
    const helloTimer = setTimeout(() => refuse(sock, Status.HELLO_TIMEOUT, 'no hello in time'), o.helloTimeoutMs ?? 10_000)
    sock.on('end', () => sock.destroy())
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk])
      const h = parseHello(buf, MAX_HELLO)
      if (h.kind === 'more') return
      clearTimeout(helloTimer)
      sock.removeAllListeners('data')
      if (h.kind === 'error') return refuse(sock, h.status, h.reason)
      // The bridge is the TLS server: it says nothing until the broker's ClientHello.
      if (h.rest.length > 0) return refuse(sock, Status.EARLY_DATA, 'data before pairing')
      if (h.hello.role !== 'bridge') return refuse(sock, Status.BAD_ROLE, 'only a bridge dials the broker')
      const room = rooms.get(h.hello.infoHash.toString('hex'))
      if (!room) return refuse(sock, Status.MATCH_TIMEOUT, 'not a room of this cluster')
      const take = room.takers.shift()
      if (take) return pair(sock, take)
      if (room.bridges.length >= (o.maxWaitingPerRoom ?? 4)) return refuse(sock, Status.HASH_FULL, 'too many bridges waiting in one room')
      const w: Waiting = {
        sock,
        timer: setTimeout(() => {
          drop()
          sock.end(encodeStatus(Status.MATCH_TIMEOUT))
        }, o.waitMs ?? 25_000),
      }
      const drop = () => {
        clearTimeout(w.timer)
        const i = room.bridges.indexOf(w)
        if (i >= 0) room.bridges.splice(i, 1)
      }
      room.bridges.push(w)
      sock.write(encodeStatus(Status.WAITING))
      sock.once('close', drop)
      // Nothing may arrive while waiting; a bridge that hangs up is forgotten.
      sock.on('data', () => (drop(), refuse(sock, Status.EARLY_DATA, 'data before pairing')))
      sock.once('end', () => (drop(), sock.destroy()))
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(o.port, o.host, () => resolve())
  })
  const port = (server.address() as net.AddressInfo).port
  log('info', 'reverse_listening', {host: o.host, port})

  return {
    port,
    accept: (d) =>
      new Promise<net.Socket>((resolve, reject) => {
        const room = rooms.get(d.infoHash.toString('hex'))
        if (!room) return reject(new BeaconError('BEACON_REJECTED', 'the broker has no such room', {status: Status.MATCH_TIMEOUT}))
        const w = room.bridges.shift()
        if (w) {
          clearTimeout(w.timer)
          return pair(w.sock, resolve)
        }
        const take = (s: net.Socket) => (d.signal?.removeEventListener('abort', onAbort), resolve(s))
        const onAbort = () => {
          const i = room.takers.indexOf(take)
          if (i >= 0) room.takers.splice(i, 1)
          reject(new BeaconError('BEACON_ABORTED', 'aborted while waiting for the bridge'))
        }
        if (d.signal?.aborted) return onAbort()
        d.signal?.addEventListener('abort', onAbort, {once: true})
        room.takers.push(take)
        d.onWaiting?.()
      }),
    async close() {
      for (const r of rooms.values()) for (const w of r.bridges) clearTimeout(w.timer)
      await new Promise<void>((r) => {
        server.close(() => r())
        for (const s of open) s.destroy()
      })
    },
  }
}
