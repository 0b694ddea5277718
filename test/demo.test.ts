// The README's main job, run as a newcomer runs it: the whole plan workflow on a fresh lab with a
// node, ending with Debian's Redis and its client running under the wrapper, a rotation in
// OpenBao reaching both, and a leak hunt over etcd's files, the node's disk and every log.
import t from 'tap'
import {spawnSync} from 'node:child_process'

t.test('npm run demo: lab up -> images -> target install -> discover -> apply-plan -> verify-plan -> protect -> rotation -> leak hunt -> lab down', async (t) => {
  const r = spawnSync(process.execPath, ['scripts/demo.mjs'], {encoding: 'utf8', timeout: 900_000})
  t.equal(r.status, 0, r.stdout.slice(-3000) + r.stderr)
  t.match(r.stdout, /All \d+ secret\(s\) present/)
  t.match(r.stdout, /\[2\/2\] migrated: Deployment redis-demo\//)
  t.match(r.stdout, /deployment\/redis: PID 1 is \/cloudtaser\/wrapper/)
  t.match(r.stdout, /deployment\/redis-client: PID 1 is \/cloudtaser\/wrapper/)
  t.match(r.stdout, /Secret references left in the Deployments: none/)
  t.match(r.stdout, /STATUS: deployed/, 'installed with the Helm chart')
  t.match(r.stdout, /operator {3}2\/2 ready, leader /, 'two replicas, one leader')
  t.match(r.stdout, /Kubernetes Secrets of cloudtaser's own: none/)
  t.match(r.stdout, /webhook .*caBundle set, reachable/)
  t.match(r.stdout, /cloudtaser-lab: degraded \(/, 'target check tells the truth about this kernel')
  t.match(r.stdout, /kernelProtection: preferred/)
  t.match(r.stdout, /"event":"ebpf_unprotected","code":"EBPF_DEGRADED"/, 'the wrapper registered with the node\'s agent and was told')
  t.match(r.stdout, /secret "redis-auth" deleted/)
  t.match(r.stdout, /rotation reached both apps/)
  t.match(r.stdout, /redis: .*"event":"secret_changed"/)
  t.match(r.stdout, /before-migration password \(was in the Kubernetes Secret\): in \d+ place\(s\), [1-9]\d* of them etcd files/, 'the hunt reads etcd (control)')
  t.match(r.stdout, /rotated password \(only ever in OpenBao\): found nowhere/)
  t.notMatch(r.stdout + r.stderr, /demo-canary-/, 'no Secret value in anything the demo printed')
})
