// Rotation without restart, against the lab's real kube-apiserver and OpenBao: two replicas with
// short lifetimes (serving 12 s, CA 60 s, overlap 4 s) are watched for a minute while pods are
// admitted through the apiserver and straight to the port with only the live caBundle trusted.
// Every serving certificate the leader writes reaches both replicas; the CA goes
// old -> old+new -> new in caBundle; not one admission fails.
import t from 'tap'
import {setTimeout as sleep} from 'node:timers/promises'
import {CoreV1Api} from '@kubernetes/client-node'
import {startLab} from '../../../lib/lab/index.js'
import {freePorts} from '../../../lib/lab/net.js'
import {WRAPPER_PATH} from '../../../runtime/operator/mutation.js'
import {eventually} from '../../lib/lab/helpers.js'
import {directReview, liveCaBundle, pemsOf, prepare, protectedPod, sha256Of, startReplica, type Replica, type Status} from './ha-fixture.js'

const lab = await startLab()
t.teardown(() => lab.stop())
const fx = await prepare(lab)
t.teardown(() => fx.cleanup())
const core = lab.kubeConfig.makeApiClient(CoreV1Api)
const [port] = (await freePorts(1)) as [number]

const TIMING = ['--cert-ttl', '12s', '--ca-ttl', '60s', '--rotation-overlap', '4s', '--poll-interval', '1s', '--lease-duration', '3s']
const replicas: Replica[] = []
t.teardown(() => replicas.forEach((r) => r.child.kill('SIGKILL')))
for (const name of ['rot-a', 'rot-b']) {
  const {kubeconfig, tokenFile} = await fx.identityFiles(name)
  replicas.push(startReplica(name, ['--secret-backend', 'openbao', '--sa-token-file', tokenFile, '--kubeconfig', kubeconfig, '--host', '127.0.0.1', '--port', String(port), '--reuse-port', ...TIMING], {BAO_ADDR: lab.baoAddr}))
}
await Promise.all(replicas.map((r) => eventually(`${r.name} ready`, async () => ((await r.ops('/readyz')).status === 200 ? true : undefined), 60_000)))
const first = await replicas[0]!.status()
await eventually('caBundle written', async () => ((await liveCaBundle(lab).catch(() => '')) === '' ? undefined : true))
await eventually('the apiserver to call the webhook', async () => {
  const p = await core.createNamespacedPod({namespace: 'apps', dryRun: 'All', body: protectedPod('warm')})
  return p.spec?.containers[0]?.command?.[0] === WRAPPER_PATH ? true : undefined
})

t.test('a minute of rotations: both replicas follow, caBundle overlaps, no admission fails', async (t) => {
  const served = new Map<string, Set<string>>(replicas.map((r) => [r.name, new Set<string>()]))
  const signers = new Map<string, string[]>(replicas.map((r) => [r.name, []]))
  const bundles: string[][] = []
  const failures: string[] = []
  let apiserverOk = 0
  let directOk = 0
  const until = Date.now() + 58_000
  for (let i = 0; Date.now() < until; i++) {
    const statuses: Status[] = await Promise.all(replicas.map((r) => r.status()))
    statuses.forEach((s, k) => {
      const name = replicas[k]!.name
      served.get(name)!.add(s.material!.servingSha256)
      const seen = signers.get(name)!
      if (seen.at(-1) !== s.material!.signerSha256) seen.push(s.material!.signerSha256)
    })
    const live = await liveCaBundle(lab)
    const shas = pemsOf(live).map(sha256Of)
    if (JSON.stringify(bundles.at(-1)) !== JSON.stringify(shas)) bundles.push(shas)
    try {
      const p = await core.createNamespacedPod({namespace: 'apps', dryRun: 'All', body: protectedPod(`rot-${i}`)})
      if (p.spec?.containers[0]?.command?.[0] === WRAPPER_PATH) apiserverOk++
      else failures.push(`apiserver: pod ${i} not mutated`)
    } catch (err) {
      failures.push(`apiserver: ${(err as {body?: string}).body ?? (err as Error).message}`)
    }
    try {
      const r = await directReview(port, live)
      if (r.status === 200 && r.mutated) directOk++
      else failures.push(`direct: HTTP ${r.status}`)
    } catch (err) {
      failures.push(`direct: ${(err as Error).message}`)
    }
    await sleep(200)
  }
  t.comment(`admissions: ${apiserverOk} through the apiserver, ${directOk} direct; serving certificates seen: ${[...served].map(([n, s]) => `${n} ${s.size}`).join(', ')}; caBundle sequence: ${bundles.map((b) => b.length).join(' -> ')}`)
  t.same(failures, [], 'no admission failed')
  t.ok(apiserverOk > 50 && directOk > 50)

  for (const r of replicas) {
    t.equal(r.child.exitCode, null, `${r.name} never restarted`)
    t.equal(r.events().filter((e) => e.event === 'listening').length, 1, `${r.name} started listening once`)
    t.ok(served.get(r.name)!.size >= 4, `${r.name} served ${served.get(r.name)!.size} serving certificates`)
    t.same(signers.get(r.name), signers.get(replicas[0]!.name), `${r.name} followed the same CAs`)
  }
  const cas = signers.get(replicas[0]!.name)!
  t.equal(cas.length, 2, 'one CA rotation')
  const [oldCa, newCa] = cas as [string, string]
  t.equal(oldCa, first.material!.signerSha256)
  const flat = bundles.map((b) => b.join('+'))
  const iOld = flat.indexOf(oldCa)
  const iBoth = flat.findIndex((b) => b === `${oldCa}+${newCa}` || b === `${newCa}+${oldCa}`)
  const iNew = flat.lastIndexOf(newCa)
  t.ok(iOld >= 0 && iBoth > iOld && iNew > iBoth, `caBundle went old -> old+new -> new (${bundles.map((b) => b.map((s) => s.slice(0, 6)).join('+')).join(' -> ')})`)

  const follower = replicas.find((r) => !r.events().some((e) => e.event === 'material_rotated'))
  t.ok(follower, 'one replica wrote every rotation')
  t.ok(follower!.events().filter((e) => e.event === 'material_reloaded').length >= 4, 'the other picked each up by polling')
  const kinds = replicas.flatMap((r) => r.events().filter((e) => e.event === 'material_rotated').map((e) => e.step))
  t.ok(['serving-renewed', 'ca-introduced', 'ca-switched', 'ca-retired'].every((k) => kinds.includes(k)), `steps: ${[...new Set(kinds)].join(', ')}`)
})

t.test('metrics count the rotations', async (t) => {
  const leader = (await Promise.all(replicas.map(async (r) => [r, await r.status()] as const))).find(([, s]) => s.leader)![0]
  const m = (await leader.ops('/metrics')).body
  t.match(m, /cloudtaser_operator_material_rotations_total\{step="ca-switched"\} 1/)
  t.match(m, /cloudtaser_operator_leader 1/)
  t.match(m, /cloudtaser_operator_ready 1/)
})
