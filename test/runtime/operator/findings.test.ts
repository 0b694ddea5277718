// The judging half of diagnostics, on observations as the operator makes them: the cause before
// its consequences, one line per problem, nothing said twice, nothing said of a healthy Pod.
import t from 'tap'
import type {PodDiagnosis} from '../../../lib/debug/report.js'
import {findingsOf} from '../../../runtime/operator/diagnostics/findings.js'

const healthy: PodDiagnosis = {
  name: 'api-1',
  node: 'n1',
  phase: 'Running',
  ready: true,
  injection: {labelled: true, wrapped: true, annotations: {}},
  containers: [{name: 'api', wrapped: true, state: 'running', restarts: 0}],
  events: [],
  connectivity: {address: 'https://bao:8200', reachable: true, detail: 'answered'},
  kernel: {required: true, node: 'n1', nodeVerdict: 'enforce', enforcingNodes: 1},
}
const pod = (o: Partial<PodDiagnosis>): PodDiagnosis => ({...healthy, ...o})

t.same(findingsOf({pods: [healthy]}, 'Pod x'), [], 'a healthy Pod: nothing')
t.same(findingsOf({template: {labelled: true, annotations: {}}, pods: []}, 'Deployment a/api'), ['Deployment a/api: no Pods'])
t.match(findingsOf({template: {labelled: false, annotations: {}}, pods: [pod({injection: {labelled: false, wrapped: false, annotations: {}}})]}, 'Deployment a/api'), [/not marked for injection .*run target protect/, /^Pod api-1 is not marked/])

t.test('crash loop: waiting with the reason, or running between two crashes, each with the last exit', async (t) => {
  const lastExit = {code: 5, message: 'WRAPPER_START_DEADLINE: OpenBao stayed unreachable'}
  t.same(findingsOf({pods: [pod({ready: false, containers: [{name: 'api', wrapped: true, state: 'waiting', reason: 'CrashLoopBackOff', message: 'back-off 10s', restarts: 2, lastExit}]})]}, 'x'), [
    'Pod api-1 container api: CrashLoopBackOff: back-off 10s; last exit 5: WRAPPER_START_DEADLINE: OpenBao stayed unreachable',
  ])
  t.same(findingsOf({pods: [pod({ready: false, containers: [{name: 'api', wrapped: true, state: 'running', restarts: 2, lastExit}]})]}, 'x'), [
    'Pod api-1 container api: running, 2 restart(s); last exit 5: WRAPPER_START_DEADLINE: OpenBao stayed unreachable',
  ])
  t.same(findingsOf({pods: [pod({containers: [{name: 'api', wrapped: true, state: 'running', restarts: 1, lastExit}]})]}, 'x'), [], 'an old crash of a Ready Pod is not a problem now')
})

t.test('no enforcing node: said once, first, and nothing about containers that cannot exist yet', async (t) => {
  const waiting = pod({node: undefined, phase: 'Pending', ready: false, containers: [{name: 'api', wrapped: true, state: 'unknown', restarts: 0}], kernel: {required: true, enforcingNodes: 0}, events: [{type: 'Warning', reason: 'FailedScheduling', message: '0/1 nodes are available', count: 3}]})
  const f = findingsOf({pods: [waiting]}, 'x')
  t.equal(f.length, 1)
  t.match(f[0], /^Pod api-1 requires kernel enforcement .* no node is labelled cloudtaser\.io\/kernel-protection=enforce/)
  t.same(findingsOf({pods: [pod({kernel: {required: true, node: 'n1', nodeVerdict: 'degraded', enforcingNodes: 0}})]}, 'x'), ['Pod api-1 requires kernel enforcement but runs on node n1 whose agent says degraded'])
})

t.test('not wrapped, unreachable OpenBao, warnings not already said', async (t) => {
  t.match(findingsOf({pods: [pod({injection: {labelled: true, wrapped: false, annotations: {}}})]}, 'x'), [/runs without the wrapper/])
  const f = findingsOf({pods: [pod({ready: false, connectivity: {address: 'http://bad:8200', reachable: false, detail: 'ENOTFOUND'}, events: [{type: 'Warning', reason: 'BackOff', message: 'restarting', count: 4}, {type: 'Warning', reason: 'Unhealthy', message: 'probe failed', count: 2}]})]}, 'x')
  t.same(f, ['Pod api-1: OpenBao at http://bad:8200 does not answer from the operator\'s network: ENOTFOUND', 'Pod api-1 event Unhealthy (x2): probe failed'])
  t.same(findingsOf({pods: [pod({ready: false, phase: 'Running'})]}, 'x'), ['Pod api-1 is not Ready (Running)'])
})
