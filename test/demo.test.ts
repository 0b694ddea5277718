// The README's main job, run as a newcomer runs it: the whole plan workflow on a fresh lab.
import t from 'tap'
import {spawnSync} from 'node:child_process'

t.test('npm run demo: lab up -> discover -> apply-plan -> bao kv put -> verify-plan -> protect -> lab down', async (t) => {
  const r = spawnSync(process.execPath, ['scripts/demo.mjs'], {encoding: 'utf8', timeout: 600_000})
  t.equal(r.status, 0, r.stdout.slice(-3000) + r.stderr)
  t.match(r.stdout, /All \d+ secret\(s\) present/)
  t.match(r.stdout, /Progress: 4\/4 migrated/)
  t.match(r.stdout, /Deployment shop\/storefront: generation 2, Secret references left: none/)
  t.match(r.stdout, /Secret values in the plan: none/)
  t.notMatch(r.stdout + r.stderr, /demo-canary-/, 'no Secret value in anything the demo printed')
})
