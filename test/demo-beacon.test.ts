// The main job in beacon mode, as the README runs it (`npm run demo -- --mode beacon`): OpenBao in
// a network namespace the cluster cannot reach, the bridge beside it, the beacon on the host, the
// broker installed by the chart; the plan workflow, a rotation through the beacon, the leak hunt.
import t from 'tap'
import {spawnSync} from 'node:child_process'

t.test('npm run demo -- --mode beacon: register -> bridge -> install --mode beacon -> discover -> jwt auth -> apply-plan -> protect -> rotation -> leak hunt', async (t) => {
  const r = spawnSync(process.execPath, ['scripts/demo.mjs', '--mode', 'beacon'], {encoding: 'utf8', timeout: 900_000})
  t.equal(r.status, 0, r.stdout.slice(-3000) + r.stderr)
  t.match(r.stdout, /OpenBao side: http:\/\/10\.250\.\d+\.2:\d+ in network namespace cteu\d+/)
  t.match(r.stdout, /registered; operationalInfoHash \(the CA pin, public\): [0-9a-f]{64}/)
  t.match(r.stdout, /broker: tunnel up through the beacon/)
  t.match(r.stdout, /Kubernetes Secrets of cloudtaser's own: none/, 'the operator logs in through the broker and keeps its material in OpenBao')
  t.match(r.stdout, /\n {2}address: https:\/\/cloudtaser-broker\.cloudtaser-system\.svc:8200\n/, 'the plan names the broker')
  t.match(r.stdout, /created +auth-method auth\/k8s-beacon +\(jwt\)\n +created +auth-config auth\/k8s-beacon\/config/, 'a jwt auth method from the keys the bridge recorded')
  t.match(r.stdout, /All \d+ secret\(s\) present/)
  t.match(r.stdout, /\[2\/2\] migrated: Deployment redis-demo\//)
  t.match(r.stdout, /deployment\/redis-client: PID 1 is \/cloudtaser\/wrapper/)
  t.match(r.stdout, /rotation reached both apps/)
  t.match(r.stdout, /rotated password \(only ever in OpenBao\): found nowhere/)
  t.match(r.stdout, /beacon and bridge logs: no password/)
  t.match(r.stdout, /reached only through the broker, the beacon and the bridge/)
  t.notMatch(r.stdout + r.stderr, /demo-canary-/, 'no Secret value in anything the demo printed')
  const netns = /in network namespace (cteu\d+)/.exec(r.stdout)?.[1]
  t.ok(netns)
  t.notOk(spawnSync('ip', ['netns', 'list'], {encoding: 'utf8'}).stdout.split(/\s+/).includes(netns!), 'the OpenBao side\'s network namespace is gone')
})
