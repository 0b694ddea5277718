// Several operator replicas with their TLS material in OpenBao, against the lab's real
// kube-apiserver and OpenBao (see ha-fixture.ts): two starting together end with one CA and
// serve the same caBundle; a client trusting only that caBundle is accepted by both; killing the
// leader hands the Lease to the other while admission goes on; no Kubernetes Secret of
// cloudtaser exists. Rotation: ha-rotation.test.ts. Failures at start: ha-failures.test.ts.
import t from 'tap'
import {readFileSync} from 'node:fs'
import {setTimeout as sleep} from 'node:timers/promises'
import {CoordinationV1Api, CoreV1Api} from '@kubernetes/client-node'
import {startLab} from '../../../lib/lab/index.js'
import {freePorts} from '../../../lib/lab/net.js'
import {LEADER_LEASE_NAME} from '../../../runtime/operator/server.js'
import {WRAPPER_PATH} from '../../../runtime/operator/mutation.js'
import {eventually} from '../../lib/lab/helpers.js'
import {cloudtaserSecrets, directReview, liveCaBundle, NS, pemsOf, prepare, protectedPod, sha256Of, startReplica, type Replica} from './ha-fixture.js'

const lab = await startLab()
t.teardown(() => lab.stop())
const fx = await prepare(lab)
t.teardown(() => fx.cleanup())
const core = lab.kubeConfig.makeApiClient(CoreV1Api)
const leases = lab.kubeConfig.makeApiClient(CoordinationV1Api)
const [port] = (await freePorts(1)) as [number]

const replicas: Replica[] = []
t.teardown(() => replicas.forEach((r) => r.child.kill('SIGKILL')))
const start = async (name: string) => {
  const {kubeconfig, tokenFile} = await fx.identityFiles(name)
  const r = startReplica(
    name,
    ['--secret-backend', 'openbao', '--sa-token-file', tokenFile, '--kubeconfig', kubeconfig, '--host', '127.0.0.1', '--port', String(port), '--reuse-port', '--lease-duration', '3s', '--poll-interval', '1s', '--rotation-overlap', '2s'],
    {BAO_ADDR: lab.baoAddr},
  )
  replicas.push(r)
  return r
}
const ready = (r: Replica) => eventually(`${r.name} ready`, async () => ((await r.ops('/readyz')).status === 200 ? true : undefined), 60_000)

/** A pod created through the apiserver (dry run): the apiserver calls whichever replica its connection reaches. */
const admitted = async (name: string) => {
  const p = await core.createNamespacedPod({namespace: 'apps', dryRun: 'All', body: protectedPod(name)})
  return p.spec?.containers[0]?.command?.[0] === WRAPPER_PATH
}

const [a, b] = await Promise.all([start('op-a'), start('op-b')])
await Promise.all([ready(a), ready(b)])

t.test('two replicas starting together: one CA, created once (KV check-and-set), the same caBundle', async (t) => {
  const meta = (await fx.root.read<{data: {current_version: number}}>('secret/metadata/cloudtaser/system/webhook-tls'))!.data
  t.equal(meta.current_version, 1, 'one write: the other replica read it')
  const created = replicas.filter((r) => r.events().some((e) => e.event === 'material_created'))
  t.equal(created.length, 1, `created by ${created.map((r) => r.name).join(', ')}`)
  const [sa, sb] = await Promise.all([a.status(), b.status()])
  t.equal(sa.material!.signerSha256, sb.material!.signerSha256)
  t.equal(sa.material!.servingSha256, sb.material!.servingSha256)
  const bundle = await eventually('the caBundle written by the leader', async () => {
    const live = await liveCaBundle(lab).catch(() => '')
    return live ? live : undefined
  })
  t.same(pemsOf(bundle).map(sha256Of), [sa.material!.signerSha256])
  t.equal([sa, sb].filter((s) => s.leader).length, 1, 'one leader')
})

t.test('both replicas serve admission; a client trusting only the caBundle accepts every connection', async (t) => {
  const ca = await liveCaBundle(lab)
  const before = await Promise.all([a.status(), b.status()])
  const results = []
  for (let i = 0; i < 40; i++) results.push(await directReview(port, ca))
  t.ok(results.every((r) => r.status === 200 && r.mutated), 'every review answered and mutated')
  t.equal(new Set(results.map((r) => r.servedSha256)).size, 1, 'one serving certificate')
  const after = await Promise.all([a.status(), b.status()])
  const served = after.map((s, i) => s.stats.reviews - before[i]!.stats.reviews)
  t.ok(served.every((n) => n > 0), `reviews per replica: ${served.join(', ')}`)
  await eventually('the apiserver to call the webhook', async () => ((await admitted('probe')) ? true : undefined))
})

t.test('no Kubernetes Secret of cloudtaser anywhere (kubectl get secrets -A)', async (t) => {
  // The same check finds the fallback backend's Secret (ha-failures.test.ts): it can fail.
  t.same(await cloudtaserSecrets(lab), [])
})

t.test('memory: RSS of a replica (openbao backend, leader election) against a one-replica memory-backend operator, same run', async (t) => {
  const rss = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024
  const base = startReplica('memory-baseline', ['--secret-backend', 'memory', '--no-register', '--host', '127.0.0.1', '--port', '0'], {})
  replicas.push(base)
  await ready(base)
  await sleep(500)
  const [ra, rb, r0] = [a, b, base].map((r) => rss(r.child.pid!))
  t.comment(`RSS MiB: op-a ${ra!.toFixed(1)}, op-b ${rb!.toFixed(1)} (openbao backend, Lease); memory-backend baseline ${r0!.toFixed(1)}; ratio ${(Math.max(ra!, rb!) / r0!).toFixed(2)}`)
  t.ok(ra! > 0 && rb! > 0)
  base.child.kill('SIGTERM')
  t.equal(await base.exited, 0)
})

t.test('killing the leader: the other takes the Lease; admission goes on', async (t) => {
  const [sa] = await Promise.all([a.status()])
  const [leader, follower] = sa.leader ? [a, b] : [b, a]
  const outcomes: {at: number; ok: boolean; error?: string}[] = []
  let stop = false
  const load = (async () => {
    for (let i = 0; !stop; i++) {
      const at = Date.now()
      try {
        outcomes.push({at, ok: await admitted(`failover-${i}`)})
      } catch (err) {
        outcomes.push({at, ok: false, error: (err as {body?: string}).body ?? (err as Error).message})
      }
      await sleep(100)
    }
  })()
  await sleep(1000)
  const killedAt = Date.now()
  leader.child.kill('SIGKILL')
  await leader.exited
  const took = await eventually('the follower to lead', async () => ((await follower.status()).leader ? Date.now() - killedAt : undefined), 30_000)
  const lease = await leases.readNamespacedLease({name: LEADER_LEASE_NAME, namespace: NS})
  t.equal(lease.spec?.holderIdentity, follower.name, 'the Lease names the survivor')
  t.ok((lease.spec?.leaseTransitions ?? 0) >= 1)
  await sleep(1500)
  stop = true
  await load
  const failed = outcomes.filter((o) => !o.ok)
  const window = failed.length ? Math.max(...failed.map((o) => o.at)) - Math.min(...failed.map((o) => o.at)) : 0
  t.comment(`leader killed: Lease taken over after ${took} ms (lease 3s); ${outcomes.length} pod creations through the apiserver, ${failed.length} failed (window ${window} ms)${failed[0] ? `: ${failed[0].error?.replace(/.*failed to call webhook: /, '').slice(0, 220)}` : ''}`)
  t.ok(took < 10_000, `takeover in ${took} ms`)
  t.ok(outcomes.slice(-5).every((o) => o.ok), 'admission works after the kill')
  t.ok(failed.length <= 2, 'at most the calls on connections to the killed process fail')
  t.ok(follower.events().some((e) => e.event === 'leader_started'))
})

t.test('a new replica joins: it reads the material, does not lead; a graceful stop releases the Lease at once', async (t) => {
  const c = await start('op-c')
  await ready(c)
  t.ok(c.events().some((e) => e.event === 'material_loaded'))
  t.notOk(c.events().some((e) => e.event === 'material_created'))
  const [survivor] = replicas.filter((r) => r !== c && r.child.exitCode === null && r.child.signalCode === null)
  const [sc, ss] = await Promise.all([c.status(), survivor!.status()])
  t.equal(sc.material!.signerSha256, ss.material!.signerSha256)
  t.notOk(sc.leader)

  const stoppedAt = Date.now()
  survivor!.child.kill('SIGTERM')
  t.equal(await survivor!.exited, 0, survivor!.stderr().slice(-2000))
  t.match(JSON.parse(survivor!.stdout()), {identity: survivor!.name, backend: 'openbao'})
  const took = await eventually('the new replica to lead', async () => ((await c.status()).leader ? Date.now() - stoppedAt : undefined), 30_000)
  t.ok(took < 3000, `released Lease taken in ${took} ms (no wait for the 3s duration)`)
  c.child.kill('SIGTERM')
  t.equal(await c.exited, 0)
})

t.test('no key, token or certificate text in any replica log line', async (t) => {
  for (const r of replicas) {
    t.notMatch(r.stderr(), /PRIVATE KEY|BEGIN CERTIFICATE|hvs\.|s\.[A-Za-z0-9]{20,}|eyJhbGci/, r.name)
    t.notMatch(r.stdout(), /PRIVATE KEY|BEGIN CERTIFICATE/, r.name)
  }
})
