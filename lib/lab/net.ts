import {request as httpsRequest} from 'node:https'
import {createServer} from 'node:net'

/**
 * A port the kernel just handed out on 127.0.0.1. It is free again when we pass it on, so
 * another process may take it in between; callers retry a start that fails to bind.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

export async function freePorts(n: number): Promise<number[]> {
  // Ask for all before releasing any, so one call never returns the same port twice.
  const held = await Promise.all(
    Array.from({length: n}, () =>
      new Promise<import('node:net').Server>((resolve, reject) => {
        const s = createServer()
        s.unref()
        s.on('error', reject)
        s.listen(0, '127.0.0.1', () => resolve(s))
      }),
    ),
  )
  const ports = held.map((s) => (s.address() as import('node:net').AddressInfo).port)
  await Promise.all(held.map((s) => new Promise((r) => s.close(r))))
  return ports
}

export interface HttpsGetOptions {
  ca?: string | Buffer
  cert?: string | Buffer
  key?: string | Buffer
  timeoutMs?: number
}

/** GET over TLS with our own CA (fetch cannot take a CA without undici's dispatcher). */
export function httpsGet(url: string, options: HttpsGetOptions = {}): Promise<{status: number; body: string}> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, {method: 'GET', ca: options.ca, cert: options.cert, key: options.key, timeout: options.timeoutMs ?? 2000}, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve({status: res.statusCode ?? 0, body}))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end()
  })
}
