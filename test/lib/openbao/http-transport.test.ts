// The OpenBao transport (node:http(s), http-transport.ts) where OpenBao cannot be made to
// misbehave: servers that stall before the headers or mid-body, cut an answer short, or count
// connections. What a real OpenBao answers is in client.test.ts and transport-tls.test.ts.
import t from 'tap'
import {createServer as createHttpServer, type IncomingMessage, type ServerResponse} from 'node:http'
import {createServer as createNetServer, type AddressInfo, type Server, type Socket} from 'node:net'
import {setTimeout as sleep} from 'node:timers/promises'
import {HttpTransport} from '../../../lib/openbao/http-transport.js'

const listen = async (s: Server): Promise<string> => {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))
  t.teardown(() => new Promise((r) => s.close(() => r(undefined))))
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`
}

/** An HTTP server that counts the connections it was opened. */
async function server(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{url: string; connections: () => number}> {
  const s = createHttpServer(handler)
  let n = 0
  const open = new Set<Socket>()
  s.on('connection', (c: Socket) => {
    n++
    open.add(c)
    c.once('close', () => open.delete(c))
  })
  t.teardown(() => {
    for (const c of open) c.destroy()
  })
  return {url: await listen(s), connections: () => n}
}

const get = (tr: HttpTransport, url: string, more: {timeoutMs?: number; wipe?: boolean} = {}) =>
  tr.request({method: 'GET', url: new URL('/v1/x', url), headers: {}, timeoutMs: more.timeoutMs ?? 5000, wipe: more.wipe})

t.test('status, body, Retry-After; POST bodies arrive whole', async (t) => {
  const s = await server((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      res.writeHead(429, {'retry-after': '3'})
      res.end(`${req.method} ${req.headers['content-length']} ${Buffer.concat(chunks).toString()}`)
    })
  })
  const tr = new HttpTransport()
  t.teardown(() => tr.close())
  const r = await tr.request({method: 'POST', url: new URL('/v1/x', s.url), headers: {'content-type': 'application/json'}, body: '{"a":1}', timeoutMs: 5000})
  t.match(r, {status: 429, retryAfter: '3'})
  t.equal(r.body.toString(), 'POST 7 {"a":1}')
})

t.test('no headers within the timeout: ETIMEDOUT', async (t) => {
  const s = await server(() => undefined)
  const tr = new HttpTransport()
  t.teardown(() => tr.close())
  const t0 = Date.now()
  await t.rejects(get(tr, s.url, {timeoutMs: 300}), {code: 'ETIMEDOUT', message: /no data from OpenBao within 300 ms/})
  t.ok(Date.now() - t0 < 2000, 'not later than the timeout allows')
})

t.test('a body that stalls between chunks: ETIMEDOUT; one that keeps coming outlives the timeout', async (t) => {
  const s = await server((req, res) => {
    res.writeHead(200)
    res.write('part')
    if (req.url === '/v1/x') return // stalls
    // Slow but steady: 6 chunks 150 ms apart, 900 ms in all, against a 400 ms timeout.
    let i = 0
    const tick = setInterval(() => (++i < 6 ? res.write('.') : (clearInterval(tick), res.end('done'))), 150)
  })
  const tr = new HttpTransport()
  t.teardown(() => tr.close())
  await t.rejects(get(tr, s.url, {timeoutMs: 300}), {code: 'ETIMEDOUT', message: /no data from OpenBao within 300 ms/})
  const steady = await tr.request({method: 'GET', url: new URL('/v1/steady', s.url), headers: {}, timeoutMs: 400})
  t.equal(steady.body.toString(), 'part.....done')
})

t.test('an answer cut mid-body is an error, never a short body', async (t) => {
  const s = createNetServer((sock) => sock.once('data', () => sock.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"data":')))
  const url = await listen(s)
  const tr = new HttpTransport()
  t.teardown(() => tr.close())
  await t.rejects(get(tr, url), {code: 'ECONNRESET'})
})

t.test('a pool of keep-alive connections: at most `connections` open, and reused', async (t) => {
  const s = await server((_req, res) => setTimeout(() => res.end('ok'), 30))
  const tr = new HttpTransport({connections: 4})
  t.teardown(() => tr.close())
  const rs = await Promise.all(Array.from({length: 20}, () => get(tr, s.url)))
  t.ok(rs.every((r) => r.status === 200))
  t.equal(s.connections(), 4, '20 requests on 4 connections')
  await Promise.all(Array.from({length: 4}, () => get(tr, s.url)))
  t.equal(s.connections(), 4, 'the next ones reuse them')
  const dflt = new HttpTransport()
  t.teardown(() => dflt.close())
  await Promise.all(Array.from({length: 40}, () => get(dflt, s.url)))
  t.equal(s.connections(), 4 + 16, 'default pool: 16')
})

t.test('an answer slower than the idle-connection timeout (4 s) is not cut', async (t) => {
  const s = await server((_req, res) => setTimeout(() => res.end('late'), 4500))
  const tr = new HttpTransport()
  t.teardown(() => tr.close())
  t.equal((await get(tr, s.url, {timeoutMs: 10_000})).body.toString(), 'late')
})

t.test('wipe: every received chunk is zero-filled once copied; without it none is', async (t) => {
  const canary = 'canary-7f3a'.repeat(2000)
  const s = await server((_req, res) => {
    res.write(canary.slice(0, 5000))
    setTimeout(() => res.end(canary.slice(5000)), 20)
  })
  // The chunks are the transport's own; what it zero-fills is seen through Buffer#fill.
  const filled: Buffer[] = []
  const fill = Buffer.prototype.fill
  Buffer.prototype.fill = function (this: Buffer, ...args: Parameters<Buffer['fill']>) {
    if (args[0] === 0) filled.push(this)
    return fill.apply(this, args)
  }
  t.teardown(() => void (Buffer.prototype.fill = fill))
  const tr = new HttpTransport()
  t.teardown(() => tr.close())
  const plain = await get(tr, s.url)
  t.equal(plain.body.toString(), canary)
  t.equal(filled.length, 0, 'no wipe asked: nothing zero-filled')
  const wiped = await get(tr, s.url, {wipe: true})
  t.equal(wiped.body.toString(), canary, 'the body is a copy of its own')
  t.ok(filled.length >= 2, `${filled.length} chunks zero-filled`)
  t.equal(filled.reduce((n, b) => n + b.length, 0), canary.length, 'all of the body, chunk by chunk')
  t.ok(filled.every((b) => b.every((x) => x === 0)))
})

t.test('close (called twice at once) waits for the requests in flight, then refuses new ones', async (t) => {
  const s = await server((_req, res) => setTimeout(() => res.end('ok'), 200))
  const tr = new HttpTransport()
  const inflight = get(tr, s.url)
  await sleep(50)
  await Promise.all([tr.close(), tr.close()])
  t.equal((await inflight).body.toString(), 'ok')
  await t.rejects(get(tr, s.url), {code: 'ERR_TRANSPORT_CLOSED'})
})
