// (c) Admission webhooks are on: a MutatingWebhookConfiguration with a url and caBundle pointing
// at a Node HTTPS server on loopback mutates Pods as they are created.
import t from 'tap'
import {execFile} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {createServer} from 'node:https'
import type {AddressInfo} from 'node:net'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {AdmissionregistrationV1Api, CoreV1Api, type V1Pod} from '@kubernetes/client-node'
import {ensureBinary, startControlPlane} from '../../../lib/lab/index.js'
import {eventually} from './helpers.js'

const cp = await startControlPlane()
t.teardown(() => cp.stop())

// The webhook's own PKI, from the same `pki` subcommand the lab uses, in the lab's directory.
const pki = join(cp.dir, 'webhook-pki')
await promisify(execFile)(await ensureBinary(), ['pki', '--dir', pki, '--hosts', '127.0.0.1'])

interface Review {
  request: {uid: string; namespace: string; operation: string; object: V1Pod}
}
const reviews: Review['request'][] = []
const server = createServer({cert: readFileSync(join(pki, 'server.crt')), key: readFileSync(join(pki, 'server.key'))}, (req, res) => {
  let body = ''
  req.on('data', (c: Buffer) => (body += c))
  req.on('end', () => {
    const review = JSON.parse(body) as Review
    reviews.push(review.request)
    const pod = review.request.object
    const patch = [
      {op: 'add', path: '/metadata/labels', value: {...pod.metadata?.labels, 'cloudtaser.io/mutated': 'true'}},
      {op: 'add', path: '/spec/containers/0/env', value: [...(pod.spec?.containers[0]?.env ?? []), {name: 'INJECTED_BY', value: 'lab-webhook'}]},
    ]
    res.setHeader('content-type', 'application/json')
    res.end(
      JSON.stringify({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        response: {uid: review.request.uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64')},
      }),
    )
  })
})
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
t.teardown(() => new Promise<void>((r) => server.close(() => r())))
const port = (server.address() as AddressInfo).port

const core = cp.kubeConfig.makeApiClient(CoreV1Api)
const admission = cp.kubeConfig.makeApiClient(AdmissionregistrationV1Api)
const pod = (name: string): V1Pod => ({metadata: {name}, spec: {containers: [{name: 'app', image: 'registry.invalid/app:1'}]}})

t.test('a created Pod is mutated by the loopback webhook', async (t) => {
  await core.createNamespace({body: {metadata: {name: 'hooked', labels: {'lab-webhook': 'on'}}}})
  await core.createNamespace({body: {metadata: {name: 'plain'}}})
  for (const namespace of ['hooked', 'plain']) {
    await eventually(`the default ServiceAccount in ${namespace}`, () => core.readNamespacedServiceAccount({name: 'default', namespace}))
  }
  await admission.createMutatingWebhookConfiguration({
    body: {
      metadata: {name: 'lab-mutator'},
      webhooks: [
        {
          name: 'mutate.lab.cloudtaser.io',
          clientConfig: {url: `https://127.0.0.1:${port}/mutate`, caBundle: Buffer.from(readFileSync(join(pki, 'ca.crt'))).toString('base64')},
          rules: [{operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods']}],
          namespaceSelector: {matchLabels: {'lab-webhook': 'on'}},
          admissionReviewVersions: ['v1'],
          sideEffects: 'None',
          failurePolicy: 'Fail',
          timeoutSeconds: 5,
        },
      ],
    },
  })
  // The apiserver picks up new webhook configurations from its informer: probe with dry runs.
  await eventually('the webhook to be active', async () => {
    const probe = await core.createNamespacedPod({namespace: 'hooked', body: pod('probe'), dryRun: 'All'})
    return probe.metadata?.labels?.['cloudtaser.io/mutated'] === 'true' ? true : undefined
  })

  const before = reviews.length
  const created = await core.createNamespacedPod({namespace: 'hooked', body: pod('app')})
  t.equal(created.metadata?.labels?.['cloudtaser.io/mutated'], 'true', 'label added')
  t.same(created.spec?.containers[0]?.env, [{name: 'INJECTED_BY', value: 'lab-webhook'}], 'env added')
  const stored = await core.readNamespacedPod({name: 'app', namespace: 'hooked'})
  t.equal(stored.metadata?.labels?.['cloudtaser.io/mutated'], 'true', 'the mutation is what got stored')
  const mine = reviews.slice(before)
  t.equal(mine.length, 1, 'one review for one create')
  t.match(mine[0], {namespace: 'hooked', operation: 'CREATE', object: {metadata: {name: 'app'}}})

  const untouched = await core.createNamespacedPod({namespace: 'plain', body: pod('app')})
  t.notOk(untouched.metadata?.labels?.['cloudtaser.io/mutated'], 'outside the namespaceSelector: not sent to the webhook')
  t.equal(reviews.length, before + 1)
})

t.test('failurePolicy Fail: with the webhook down, Pod creation is refused', async (t) => {
  await new Promise<void>((r) => server.close(() => r()))
  server.closeAllConnections()
  await t.rejects(core.createNamespacedPod({namespace: 'hooked', body: pod('refused')}), {code: 500})
})
