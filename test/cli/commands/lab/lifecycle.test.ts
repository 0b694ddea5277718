// `cloudtaser lab up|env|down` as a newcomer uses them: up returns with servers in the
// background, env's lines make kubectl and bao work by hand, down leaves nothing behind.
import t from 'tap'
import {execFileSync, spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

const stateDir = join(mkdtempSync(join(tmpdir(), 'cloudtaser-lab-cli-')), 'state')
t.teardown(() => rmSync(join(stateDir, '..'), {recursive: true, force: true}))
const env = {...process.env, CLOUDTASER_LAB_DIR: stateDir}
const cli = (...args: string[]) => {
  const r = spawnSync(process.execPath, ['bin/run.js', ...args], {env, encoding: 'utf8', timeout: 300_000})
  return {code: r.status, stdout: r.stdout, stderr: r.stderr}
}
t.teardown(() => void cli('lab', 'down'))

/** What `eval "$(cloudtaser lab env)"` would set, parsed from the export lines. */
const parseExports = (text: string) => {
  const vars: Record<string, string> = {}
  for (const m of text.matchAll(/^export (\w+)='([^']*)'(.*)$/gm)) vars[m[1]!] = m[2]! + (m[3] ? ':PATH' : '')
  return vars
}

t.test('lab up starts everything in the background and returns', async (t) => {
  const t0 = Date.now()
  const up = cli('lab', 'up', '--no-node', '--json')
  t.equal(up.code, 0, up.stderr)
  t.comment(`lab up returned in ${Date.now() - t0} ms`)
  const state = JSON.parse(up.stdout)
  t.match(state, {stateDir: String, kubeconfigPath: String, server: /^https:\/\/127\.0\.0\.1:\d+$/, baoAddr: /^http:\/\/127\.0\.0\.1:\d+$/})
  t.notOk('baoToken' in state, 'the root token is not echoed by up')
  t.equal(state.processes.length, 4)

  const again = cli('lab', 'up', '--no-node', '--json')
  t.equal(again.code, 6, 'a second up is a conflict')
  t.equal(JSON.parse(again.stdout).error.code, 'LAB_ALREADY_RUNNING')
})

t.test('lab env prints export lines; kubectl and bao work with them', async (t) => {
  const r = cli('lab', 'env')
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /^export KUBECONFIG='.+'$/m)
  t.match(r.stdout, /^export BAO_ADDR='http:\/\/127\.0\.0\.1:\d+'$/m)
  t.match(r.stdout, /^export BAO_TOKEN='.+'$/m)
  const vars = parseExports(r.stdout)
  const shellEnv = {...process.env, KUBECONFIG: vars.KUBECONFIG, BAO_ADDR: vars.BAO_ADDR, BAO_TOKEN: vars.BAO_TOKEN, PATH: `${vars.PATH!.replace(/:PATH$/, '')}:${process.env.PATH}`}

  // Exactly what a person types after eval "$(cloudtaser lab env)".
  const sh = (cmd: string) => execFileSync('bash', ['-c', cmd], {env: shellEnv, encoding: 'utf8'})
  t.match(sh('kubectl version -o json'), /"gitVersion": "v1\.34\./, 'kubectl talks to the lab apiserver')
  sh('kubectl create namespace by-hand && kubectl -n by-hand create deployment web --image=registry.invalid/web:1')
  t.match(sh('kubectl -n by-hand get deployment web -o name'), /deployment.apps\/web/)
  sh('bao kv put secret/by-hand answer=42 >/dev/null')
  t.equal(sh('bao kv get -field=answer secret/by-hand').trim(), '42', 'bao talks to the lab OpenBao')

  const json = JSON.parse(cli('lab', 'env', '--json').stdout)
  t.equal(json.BAO_TOKEN, vars.BAO_TOKEN)
})

t.test('lab down stops every server and removes the state', async (t) => {
  const pids = (JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')).processes as Array<{pid: number}>).map((p) => p.pid)
  const down = cli('lab', 'down', '--json')
  t.equal(down.code, 0, down.stderr)
  t.same(JSON.parse(down.stdout).stopped.sort(), ['bao', 'etcd', 'kube-apiserver', 'kube-controller-manager'])
  t.notOk(existsSync(stateDir), 'state directory removed')
  // A zombie waiting for pid 1 to reap it is not running.
  const running = pids.filter((pid) => existsSync(`/proc/${pid}`) && !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8')))
  t.same(running, [], 'no server left running')

  const env = cli('lab', 'env', '--json')
  t.equal(env.code, 5)
  t.equal(JSON.parse(env.stdout).error.code, 'LAB_NOT_RUNNING')
  const again = cli('lab', 'down')
  t.equal(again.code, 0, 'down with nothing running is fine')
  t.match(again.stdout, /No lab was running/)
})

t.test('lab down also stops servers of a `lab up` killed before it wrote its state', async (t) => {
  const {spawn} = await import('node:child_process')
  const up = spawn(process.execPath, ['bin/run.js', 'lab', 'up', '--no-node'], {env, stdio: 'ignore'})
  const inStateDir = () =>
    readdirSync('/proc')
      .filter((e) => /^\d+$/.test(e))
      .filter((pid) => {
        try {
          return readlinkSync(`/proc/${pid}/cwd`).startsWith(stateDir) && !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
        } catch {
          return false
        }
      })
  // Wait until at least etcd runs, then kill `lab up` mid-start.
  const deadline = Date.now() + 60_000
  while (inStateDir().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  up.kill('SIGKILL')
  await new Promise((r) => up.on('exit', r))
  const orphans = inStateDir()
  t.ok(orphans.length > 0, `orphaned servers: ${orphans.join(', ')}`)
  t.notOk(existsSync(join(stateDir, 'state.json')), 'no state was written')

  const down = cli('lab', 'down', '--json')
  t.equal(down.code, 0, down.stderr)
  t.ok(JSON.parse(down.stdout).stopped.length >= 1)
  t.same(inStateDir(), [], 'all stopped')
  t.notOk(existsSync(stateDir))
})
