// The wrapper's HTTP/1.1 client: the parser on byte streams cut at every position, then the
// transport against node:http servers (keep-alive, idle close, chunked bodies, limits, timeouts).
// The client suite (client.test.ts) runs it against real OpenBao servers, TLS included.
import t from 'tap'
import {execFile} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type IncomingMessage, type ServerResponse} from 'node:http'
import {createServer as createTlsServer} from 'node:https'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'
import {Http1Transport, ResponseParser} from '../../../lib/openbao/http1-transport.js'
import {generateServingPki} from '../../../runtime/operator/pki.js'

/** Feed `text` cut at `cuts`; the body as text, or the error. */
function parse(text: string, cuts: number[] = [], method = 'GET'): {done: boolean; status?: number; body?: string; keepAlive?: boolean} {
  const p = new ResponseParser(method === 'HEAD')
  const bytes = Buffer.from(text, 'latin1')
  let done = false
  let at = 0
  for (const cut of [...cuts, bytes.length]) {
    if (cut > at) done = p.push(Buffer.from(bytes.subarray(at, cut)))
    at = cut
  }
  if (!done) done = p.end()
  if (!done) return {done}
  const r = p.result()
  return {done, status: r.head.status, body: Buffer.concat(r.chunks).toString('latin1'), keepAlive: r.keepAlive}
}

t.test('parser: every cut of a content-length and a chunked response gives the same answer', async (t) => {
  const cl = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 14\r\n\r\n{"data":"x\\n"}'
  const chunked = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\n{"dat\r\n9\r\na":"x\\n"}\r\n0\r\nX-Trailer: y\r\n\r\n'
  for (const [name, text] of [['content-length', cl], ['chunked', chunked]] as const) {
    let bad = 0
    for (let i = 1; i < text.length; i++) {
      for (const j of [i + 1, i + 7, text.length - 1]) {
        const r = parse(text, j > i && j < text.length ? [i, j] : [i])
        if (!r.done || r.status !== 200 || r.body !== '{"data":"x\\n"}' || !r.keepAlive) bad++
      }
    }
    t.equal(bad, 0, `${name}: all cuts`)
  }
})

t.test('parser: 1xx skipped, empty bodies, read-to-close, connection: close', async (t) => {
  t.match(parse('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n'), {done: true, status: 204, body: ''})
  t.match(parse('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), {done: true, body: ''})
  t.match(parse('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', [], 'HEAD'), {done: true, body: ''}, 'HEAD: no body whatever the length says')
  t.match(parse('HTTP/1.0 200 OK\r\n\r\nuntil the end', [20]), {done: true, body: 'until the end', keepAlive: false})
  t.match(parse('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok'), {done: true, keepAlive: false})
  t.match(parse('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab'), {done: false}, 'a short body is not a response')
})

t.test('parser: malformed or ambiguous responses are refused', async (t) => {
  const cases: Array<[string, string]> = [
    ['SSH-2.0-OpenSSH\r\n\r\n', 'HPE_INVALID_STATUS'],
    ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
    ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n', 'HPE_INVALID_TRANSFER_ENCODING'],
    ['HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', 'HPE_INVALID_CONTENT_LENGTH'],
    ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA', 'HPE_EXTRA_DATA'],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n', 'HPE_INVALID_CHUNK'],
    ['HTTP/1.1 200 OK\r\nno colon here\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
  ]
  for (const [text, code] of cases) t.throws(() => parse(text), {code}, code)
  t.throws(() => new ResponseParser().push(Buffer.alloc(70 * 1024, 'a')), {code: 'HPE_HEADER_OVERFLOW'})
})

async function server(handler: (req: IncomingMessage, res: ServerResponse) => void, keepAliveTimeout = 5000) {
  const connections = new Set<unknown>()
  const s = createServer(handler)
  s.keepAliveTimeout = keepAliveTimeout
  s.on('connection', (c) => connections.add(c))
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  return {url: (p: string) => new URL(`http://127.0.0.1:${(s.address() as AddressInfo).port}${p}`), connections, close: () => new Promise((r) => s.close(r))}
}

const get = (url: URL, extra: Partial<Parameters<Http1Transport['request']>[0]> = {}) => ({method: 'GET', url, headers: {'x-vault-request': 'true'}, timeoutMs: 2000, ...extra})

t.test('keep-alive: sequential requests share one connection; the body is its own buffer', async (t) => {
  const s = await server((req, res) => res.end(JSON.stringify({path: req.url, token: req.headers['x-vault-token']})))
  t.teardown(s.close)
  const tr = new Http1Transport()
  t.teardown(() => tr.close())
  for (let i = 0; i < 5; i++) {
    const r = await tr.request(get(s.url(`/v1/x?i=${i}`), {headers: {'x-vault-token': 't'}}))
    t.same(JSON.parse(r.body.toString()), {path: `/v1/x?i=${i}`, token: 't'})
    t.equal(r.body.buffer.byteLength, r.body.length, 'not a slice of a shared pool')
  }
  t.equal(s.connections.size, 1)
})

t.test('a POST body, a 1 MB chunked answer, and wipe zeroes nothing the caller gets', async (t) => {
  const s = await server(async (req, res) => {
    const parts: Buffer[] = []
    for await (const c of req) parts.push(c as Buffer)
    res.writeHead(200, {'content-type': 'application/octet-stream'})
    const echo = Buffer.concat(parts)
    for (let i = 0; i < 64; i++) res.write(Buffer.alloc(16 * 1024, i))
    res.end(echo)
  })
  t.teardown(s.close)
  const tr = new Http1Transport()
  t.teardown(() => tr.close())
  const r = await tr.request({...get(s.url('/v1/echo')), method: 'POST', body: Buffer.from('{"k":"é"}'), wipe: true})
  t.equal(r.body.length, 64 * 16 * 1024 + Buffer.byteLength('{"k":"é"}'))
  t.equal(r.body[16 * 1024 * 63], 63)
  t.equal(r.body.subarray(64 * 16 * 1024).toString(), '{"k":"é"}')
})

t.test('the server closing an idle connection, or closing it as a request arrives: a fresh one', async (t) => {
  const served = new WeakMap<object, number>()
  let mode: 'end-after' | 'drop-second' = 'end-after'
  const s = await server((req, res) => {
    const n = (served.get(req.socket) ?? 0) + 1
    served.set(req.socket, n)
    // The race a keep-alive client must survive: the server drops a connection the client reuses.
    if (mode === 'drop-second' && n > 1) return req.socket.destroy()
    res.end('ok', () => mode === 'end-after' && req.socket.end())
  })
  t.teardown(s.close)
  const tr = new Http1Transport()
  t.teardown(() => tr.close())
  t.equal((await tr.request(get(s.url('/a')))).body.toString(), 'ok')
  await new Promise((r) => setTimeout(r, 50))
  t.equal((await tr.request(get(s.url('/b')))).body.toString(), 'ok', 'the closed idle connection left the pool')
  t.equal(s.connections.size, 2)
  mode = 'drop-second'
  await new Promise((r) => setTimeout(r, 50))
  t.equal((await tr.request(get(s.url('/c')))).body.toString(), 'ok')
  t.equal((await tr.request(get(s.url('/d')))).body.toString(), 'ok', 'dropped while reused: sent again on a fresh connection')
  t.equal(s.connections.size, 4)
})

t.test('at most maxConnections at once; the rest wait their turn', async (t) => {
  let inFlight = 0
  let most = 0
  const s = await server((_req, res) => {
    most = Math.max(most, ++inFlight)
    setTimeout(() => {
      inFlight--
      res.end('ok')
    }, 20)
  })
  t.teardown(s.close)
  const tr = new Http1Transport({maxConnections: 3})
  t.teardown(() => tr.close())
  const all = await Promise.all(Array.from({length: 12}, (_, i) => tr.request(get(s.url(`/${i}`)))))
  t.equal(all.filter((r) => r.body.toString() === 'ok').length, 12)
  t.equal(most, 3)
  t.equal(s.connections.size, 3)
})

t.test('errors: a timeout, a refused connection, a closed client, a header with a line break', async (t) => {
  const s = await server(() => undefined)
  t.teardown(s.close)
  const tr = new Http1Transport()
  await t.rejects(tr.request(get(s.url('/hang'), {timeoutMs: 100})), {code: 'ETIMEDOUT'})
  await t.rejects(tr.request(get(new URL('http://127.0.0.1:1/'))), {code: 'ECONNREFUSED'})
  await t.rejects(tr.request(get(s.url('/'), {headers: {'x-vault-token': 'a\r\nx-evil: 1'}})), {code: 'ERR_INVALID_CHAR'})
  await tr.close()
  await t.rejects(tr.request(get(s.url('/'))), {code: 'ECONNRESET'})
})

t.test('TLS, both transports: a given CA is the only one trusted (BAO_CACERT semantics), else Node\'s store', async (t) => {
  const [server, other] = await Promise.all([generateServingPki(['127.0.0.1']), generateServingPki(['127.0.0.1'])])
  const dir = mkdtempSync(join(tmpdir(), 'ct-h1-tls-'))
  t.teardown(() => rmSync(dir, {recursive: true, force: true}))
  const serverCa = join(dir, 'server-ca.pem')
  const otherCa = join(dir, 'other-ca.pem')
  writeFileSync(serverCa, server.caPem)
  writeFileSync(otherCa, other.caPem)
  const s = createTlsServer({cert: server.certPem, key: server.keyPem}, (_req, res) => res.end('ok'))
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((r) => s.close(r)))
  const url = `https://127.0.0.1:${(s.address() as AddressInfo).port}/v1/sys/health`
  const tsLoader = process.execArgv.find((a) => a.includes('@tapjs/typescript'))!
  const probe = fileURLToPath(new URL('./tls-trust-probe.ts', import.meta.url))
  // The server's CA is in Node's own store here (NODE_EXTRA_CA_CERTS), as a public CA would be.
  // Async: the server answering lives in this process.
  for (const kind of ['http1', 'undici']) {
    const run = async (...args: string[]) =>
      JSON.parse((await promisify(execFile)(process.execPath, [tsLoader, probe, kind, url, ...args], {env: {...process.env, NODE_EXTRA_CA_CERTS: serverCa}})).stdout) as {status?: number; code?: string}
    t.match(await run(), {status: 200}, `${kind}: no CA given: Node's store decides`)
    t.match(await run(serverCa), {status: 200}, `${kind}: the given CA signed the server`)
    t.match(await run(otherCa), {code: /CERT|SIGNATURE|UNABLE/}, `${kind}: another CA given: refused, although Node's store would accept the server`)
  }
})
