// The rotation rules (pure, with a clock passed in) and the controller's load race on a memory
// store. The same controller against real OpenBao and a real apiserver: ha.test.ts.
import t from 'tap'
import {X509Certificate} from 'node:crypto'
import {MaterialController} from '../../../runtime/operator/material-controller.js'
import {bundleOf, bundlePem, freshMaterial, fromFields, nextStep, problems, renewAt, toFields, type Material} from '../../../runtime/operator/material.js'
import {issueServing, newCa} from '../../../runtime/operator/pki.js'
import {MemoryStore} from '../../../runtime/operator/store.js'

const MIN = 60_000
const settings = {hosts: ['op.cloudtaser-system.svc', '127.0.0.1'], caTtlMs: 90 * MIN, certTtlMs: 20 * MIN, overlapMs: 5 * MIN}
const chainsTo = (m: Material, ca: string) => new X509Certificate(m.serving.certPem).verify(new X509Certificate(ca).publicKey)

t.test('fresh material: nothing due; the serving certificate is renewed with a third of its life left', async (t) => {
  const t0 = Date.now()
  const m = freshMaterial(settings, t0)
  t.same(problems(m, settings.hosts, t0), {})
  t.equal(nextStep(m, settings, t0 + 13 * MIN, bundlePem(m)), undefined, 'two thirds in: not yet')
  const due = renewAt(new X509Certificate(m.serving.certPem))
  t.ok(Math.abs(due - (t0 + (20 * MIN * 2) / 3)) < 2000, 'renewal point ignores the backdated notBefore')
  const step = nextStep(m, settings, due + 1000, bundlePem(m))!
  t.equal(step.kind, 'serving-renewed')
  t.equal(step.material.signer, m.signer, 'same CA')
  t.not(step.material.serving.certPem, m.serving.certPem)
  t.ok(chainsTo(step.material, m.signer.certPem))
  t.equal(nextStep(step.material, settings, due + 2000, bundlePem(m)), undefined, 'and nothing right after')
})

t.test('CA rotation: introduce (bundle old+new), switch once the apiserver has it, retire after the overlap', async (t) => {
  const t0 = Date.now()
  const m0 = freshMaterial(settings, t0)
  const old = m0.signer.certPem
  const caDue = renewAt(new X509Certificate(old))
  // Keep the serving certificate young at each point so only CA steps are due.
  const young = (m: Material, at: number): Material => ({...m, serving: issueServing(m.signer, settings.hosts, settings.certTtlMs, new Date(at))})

  const at1 = caDue + 1000
  const s1 = nextStep(young(m0, at1), settings, at1, bundlePem(m0))!
  t.equal(s1.kind, 'ca-introduced')
  t.equal(s1.material.signer.certPem, old, 'the old CA still signs')
  t.equal(bundleOf(s1.material).length, 2)
  t.equal(bundleOf(s1.material)[0], old)

  const at2 = at1 + settings.overlapMs + 1000
  t.equal(nextStep(young(s1.material, at1), settings, at1 + MIN, bundlePem(s1.material)), undefined, 'overlap not over')
  t.equal(nextStep(young(s1.material, at1), settings, at2, old), undefined, 'the apiserver does not have the new CA yet: wait')
  const s2 = nextStep(young(s1.material, at1), settings, at2, bundlePem(s1.material))!
  t.equal(s2.kind, 'ca-switched')
  t.equal(s2.material.signer.certPem, s1.material.pending!.certPem)
  t.equal(s2.material.retired, old)
  t.ok(chainsTo(s2.material, s2.material.signer.certPem), 'serving now signed by the new CA')
  t.same(bundleOf(s2.material).sort(), bundleOf(s1.material).sort(), 'caBundle unchanged by the switch')

  t.equal(nextStep(s2.material, settings, at2 + MIN, bundlePem(s2.material)), undefined)
  const s3 = nextStep(s2.material, settings, at2 + settings.overlapMs + 1000, bundlePem(s2.material))!
  t.equal(s3.kind, 'ca-retired')
  t.same(bundleOf(s3.material), [s2.material.signer.certPem])
  t.equal(s3.material.serving, s2.material.serving)
})

t.test('unusable material: a broken or expired CA means new material, a broken serving certificate a new one', async (t) => {
  const t0 = Date.now()
  const m = freshMaterial(settings, t0)
  t.equal(nextStep(m, settings, t0 + 91 * MIN)!.kind, 'replaced', 'expired CA')
  t.match(problems(m, settings.hosts, t0 + 91 * MIN), {ca: /CA expired/})
  const other = newCa(settings.caTtlMs)
  t.match(nextStep({...m, signer: {certPem: m.signer.certPem, keyPem: other.keyPem}}, settings, t0), {kind: 'replaced', reason: /CA key does not match/})
  t.match(nextStep({...m, serving: issueServing(other, settings.hosts, settings.certTtlMs)}, settings, t0), {kind: 'serving-renewed', reason: /not signed by the current CA/})
  t.match(nextStep(m, {...settings, hosts: ['renamed.cloudtaser-system.svc']}, t0), {kind: 'serving-renewed', reason: /does not cover renamed/})
  t.match(nextStep({...m, serving: {...m.serving, certPem: 'junk'}}, settings, t0), {kind: 'serving-renewed', reason: /does not parse/})
})

t.test('fields: round trip; anything else is refused with a clear code', async (t) => {
  const m = freshMaterial(settings)
  const withCas: Material = {...m, pending: newCa(settings.caTtlMs), retired: newCa(settings.caTtlMs).certPem}
  t.same(fromFields(toFields(withCas), 'x'), withCas)
  t.same(Object.keys(toFields(m)).sort(), ['ca.crt', 'ca.key', 'format', 'step-at', 'tls.crt', 'tls.key'])
  t.throws(() => fromFields({...toFields(m), format: 'v0'}, 'OpenBao secret/x'), {code: 'OPERATOR_MATERIAL_INVALID', message: /OpenBao secret\/x is unusable: format/})
  const {['tls.key']: _dropped, ...noKey} = toFields(m)
  t.throws(() => fromFields(noKey, 'x'), {code: 'OPERATOR_MATERIAL_INVALID', message: /tls\.key is missing/})
})

t.test('two replicas loading at once from an empty store end with one material', async (t) => {
  const store = new MemoryStore()
  const logs: string[] = []
  const mk = () => new MaterialController(store, settings, () => undefined, (_l, e) => void logs.push(e))
  const [a, b] = [mk(), mk()]
  const [la, lb] = await Promise.all([a.load(), b.load()])
  t.equal(la.version, '1')
  t.equal(lb.version, '1')
  t.equal(bundlePem(la.material), bundlePem(lb.material))
  t.same(logs.sort(), ['material_created', 'material_loaded'])
  // A garbage version in the store: the leader writes its own material back, others keep serving.
  await store.write({format: 'junk'}, '1')
  t.equal(await b.poll(false), false)
  t.equal(b.current!.version, '1')
  t.equal(await a.poll(true), false)
  t.equal(a.current!.version, '3', 'restored as a new version')
  t.equal(await b.poll(false), true, 'the restored version loads')
  t.equal(bundlePem(b.current!.material), bundlePem(la.material))
})
