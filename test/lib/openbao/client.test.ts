// The client against real OpenBao servers over node:http(s) (every client's transport): auth and permission errors, a sealed server, an
// unreachable one, retries (a fault-injecting proxy in front of the real server), TLS on by
// default with BAO_CACERT, namespaces, KV mount detection.
import t from 'tap'
import {createServer, type Server} from 'node:http'
import {startOpenBao} from '../../../lib/lab/index.js'
import {freePort} from '../../../lib/lab/net.js'
import {BaoClient} from '../../../lib/openbao/bao-client.js'
import {OpenBaoClient} from '../../../lib/openbao/client.js'
import type {ConnectionSettings} from '../../../lib/openbao/config.js'
import {resolveConnection} from '../../../lib/openbao/config.js'
import {detectKvMount} from '../../../lib/openbao/kv.js'

type NewClient = (settings: ConnectionSettings, options?: {backoffMs?: number}) => BaoClient

const transports: Record<string, NewClient> = {
  http: (s, o) => new OpenBaoClient(s, o),
}

for (const [name, newClient] of Object.entries(transports)) {
  await t.test(`transport: ${name}`, async (t) => {
    const clientFor = (addr: string, token: string) => newClient(resolveConnection({'openbao-addr': addr, token}, {}, '/nonexistent'))
    const bao = await startOpenBao()
    t.teardown(() => bao.stop())
    const root = clientFor(bao.addr, bao.token)
    t.teardown(() => root.close())

    t.test('an invalid token: BAO_INVALID_TOKEN, exit 4', async (t) => {
      const c = clientFor(bao.addr, 'not-a-token')
      t.teardown(() => c.close())
      await t.rejects(c.call('GET', 'sys/policies/acl/default'), {code: 'BAO_INVALID_TOKEN', exitCode: 4})
    })

    t.test('a valid token without the capability: path and capability named, exit 4', async (t) => {
      await root.write('sys/policies/acl/only-read', {policy: 'path "secret/data/x" { capabilities = ["read"] }'}, 'PUT')
      const token = (await root.call<{auth: {client_token: string}}>('POST', 'auth/token/create', {body: {policies: ['only-read']}})).body!.auth.client_token
      const c = clientFor(bao.addr, token)
      t.teardown(() => c.close())
      await t.rejects(c.write('sys/policies/acl/evil', {policy: ''}, 'PUT'), {
        code: 'BAO_PERMISSION_DENIED',
        exitCode: 4,
        message: 'permission denied: PUT sys/policies/acl/evil needs the "update" capability on "sys/policies/acl/evil"',
        details: {capability: 'update'},
      })
      await t.rejects(c.call('GET', 'sys/policies/acl', {query: {list: 'true'}}), {code: 'BAO_PERMISSION_DENIED', message: /needs the "list" capability/}, 'list capability')
    })

    t.test('KV mount detection: v2 ok; missing, v1 and non-KV mounts are clear errors', async (t) => {
      t.same(await detectKvMount(root, 'secret'), {mount: 'secret', type: 'kv', version: 2})
      await t.rejects(detectKvMount(root, 'nope'), {code: 'BAO_KV_MOUNT_MISSING', exitCode: 3, message: /no secrets engine is mounted at "nope\/"$/})
      await root.write('sys/mounts/kv1', {type: 'kv'})
      await t.rejects(detectKvMount(root, 'kv1'), {code: 'BAO_KV_V1', exitCode: 3, hint: /enable-versioning kv1/})
      await root.write('sys/mounts/transit', {type: 'transit'})
      await t.rejects(detectKvMount(root, 'transit'), {code: 'BAO_NOT_KV', message: /transit secrets engine/})
      await t.rejects(detectKvMount(root, 'secret/sub'), {code: 'BAO_KV_MOUNT_MISSING'}, 'a path below a mount is not a mount')
    })

    t.test('namespaces: X-Vault-Namespace from BAO_NAMESPACE', async (t) => {
      await root.write('sys/namespaces/team1', {})
      const settings = resolveConnection({}, {BAO_ADDR: bao.addr, BAO_TOKEN: bao.token, BAO_NAMESPACE: 'team1'}, '/nonexistent')
      const c = newClient(settings)
      t.teardown(() => c.close())
      await c.write('sys/policies/acl/in-team1', {policy: 'path "x" { capabilities = ["read"] }'}, 'PUT')
      t.ok(await c.read('sys/policies/acl/in-team1'), 'visible inside the namespace')
      t.equal(await root.read('sys/policies/acl/in-team1'), undefined, 'not in the root namespace')
    })

    t.test('nothing listening: retried with backoff, then BAO_UNREACHABLE, exit 5', async (t) => {
      const port = await freePort()
      const c = newClient({...resolveConnection({'openbao-addr': `http://127.0.0.1:${port}`, token: 'x'}, {}, '/nonexistent')}, {backoffMs: 10})
      t.teardown(() => c.close())
      await t.rejects(c.call('GET', 'sys/health'), {code: 'BAO_UNREACHABLE', exitCode: 5, message: /ECONNREFUSED/})
      t.equal(c.stats.requests, 4)
      t.equal(c.stats.retries, 3)
    })

    /** Forwards to the real OpenBao, but answers the first `failures` requests with `status`. */
    async function faultyProxy(failures: number, status: number): Promise<{url: string; server: Server; seen: () => number}> {
      let n = 0
      const server = createServer(async (req, res) => {
        n++
        if (n <= failures) {
          res.writeHead(status, {'content-type': 'application/json', ...(status === 429 ? {'retry-after': '0'} : {})})
          return res.end('{"errors":["injected"]}')
        }
        const chunks: Buffer[] = []
        for await (const c of req) chunks.push(c as Buffer)
        const r = await fetch(`${bao.addr}${req.url}`, {method: req.method, headers: req.headers as Record<string, string>, body: chunks.length ? Buffer.concat(chunks) : undefined})
        res.writeHead(r.status, {'content-type': 'application/json'})
        res.end(Buffer.from(await r.arrayBuffer()))
      })
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      const port = (server.address() as {port: number}).port
      return {url: `http://127.0.0.1:${port}`, server, seen: () => n}
    }

    t.test('429 and 5xx are retried; the counter counts every attempt', async (t) => {
      for (const status of [429, 502, 500]) {
        const proxy = await faultyProxy(2, status)
        const c = newClient(resolveConnection({'openbao-addr': proxy.url, token: bao.token}, {}, '/nonexistent'), {backoffMs: 5})
        const r = await c.read<{data: {policy: string}}>('sys/policies/acl/default')
        t.ok(r?.data.policy, `${status} twice, then the real answer`)
        t.match(c.stats, {requests: 3, retries: 2})
        await c.close()
        proxy.server.close()
      }
      const always = await faultyProxy(100, 502)
      const c = newClient(resolveConnection({'openbao-addr': always.url, token: bao.token}, {}, '/nonexistent'), {backoffMs: 5})
      await t.rejects(c.call('GET', 'sys/policies/acl/default'), {code: 'BAO_UNAVAILABLE', exitCode: 5, message: 'GET sys/policies/acl/default: HTTP 502 after 4 attempt(s): injected'})
      await c.close()
      always.server.close()
    })

    t.test('a sealed server: BAO_SEALED at once, exit 5', async (t) => {
      const sealed = await startOpenBao({persistent: true})
      t.teardown(() => sealed.stop())
      const c = clientFor(sealed.addr, sealed.token)
      t.teardown(() => c.close())
      await c.write('sys/seal', {}, 'PUT')
      await t.rejects(c.call('GET', 'sys/policies/acl/default'), {code: 'BAO_SEALED', exitCode: 5, hint: /unseal/})
      t.equal(c.stats.retries, 0, 'no retry can unseal a server')
    })

    t.test('TLS: verification on by default; BAO_CACERT makes it pass', async (t) => {
      const bao = await startOpenBao({tls: true})
      t.teardown(() => bao.stop())
      const strict = newClient(resolveConnection({'openbao-addr': bao.addr, token: bao.token}, {}, '/nonexistent'), {backoffMs: 50})
      t.teardown(() => strict.close())
      const err = await strict.call('GET', 'sys/health').then(() => undefined, (e: unknown) => e)
      t.match(err, {code: 'BAO_TLS', exitCode: 3, hint: /BAO_CACERT/})
      const trusting = newClient(resolveConnection({}, {BAO_ADDR: bao.addr, BAO_TOKEN: bao.token, BAO_CACERT: bao.caPath}, '/nonexistent'))
      t.teardown(() => trusting.close())
      t.ok(await trusting.read('sys/policies/acl/default'), 'the server CA from BAO_CACERT is trusted')
    })
  })
}
