// The wrapper against the lab's real apiserver (TokenRequest token, kubernetes auth) and OpenBao:
// run with the settings the webhook writes into the pod spec, it gives the child exactly its
// mapped secrets, forwards signals, restarts or SIGHUPs on a KV version change, and exits with the
// child's code. Then a leak hunt: no canary in etcd, in any file of the run, or in any log.
import t from 'tap'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type {V1Pod} from '@kubernetes/client-node'
import {Annotations, INJECT_LABEL} from '../../../lib/annotations.js'
import {startLab} from '../../../lib/lab/index.js'
import {expand} from '../../../lib/expansion.js'
import {applyPatch, mutatePod} from '../../../runtime/operator/mutation.js'
import {bao, kubernetesAuth} from '../../lib/lab/helpers.js'
import {CHILD_SCRIPT, expectedMemory, runWrapper, type Run} from './helpers.js'

const lab = await startLab()
t.teardown(() => lab.stop())
const root = (method: string, path: string, body?: unknown) => bao(lab.baoAddr, lab.baoToken, method, path, body)
const canary = (name: string) => `canary-${name}-${randomBytes(8).toString('hex')}`
const canaries: string[] = []
const secretValue = (name: string) => {
  const v = canary(name)
  canaries.push(v)
  return v
}

// `bao auth enable -path=k8s-lab kubernetes` and its config; a read policy and a role for apps/billing below.
const tokenFor = await kubernetesAuth(lab)
await root('PUT', 'sys/policies/acl/billing-read', {policy: 'path "secret/data/billing/*" { capabilities = ["read"] }'})
await root('POST', 'auth/k8s-lab/role/billing', {bound_service_account_names: ['billing'], bound_service_account_namespaces: ['apps'], token_policies: ['billing-read'], token_ttl: '10m'})
const db = {password: secretValue('pgpass'), username: secretValue('pguser'), unmapped: secretValue('unmapped')}
const api = {key: secretValue('apikey'), region: 'eu-west-1'}
// No top-level asserts before the subtests: tap would end the root test while setup still awaits.
for (const [path, data] of [['secret/data/billing/db', db], ['secret/data/billing/api', api]] as const) {
  const w = await root('POST', path, {data})
  if (w.status !== 200) throw new Error(`kv put ${path}: HTTP ${w.status}`)
}

// The pod as the webhook leaves it; the wrapper's env is the container's env from that spec.
const work = mkdtempSync(join(tmpdir(), 'cloudtaser-wrapper-test-'))
t.teardown(() => rmSync(work, {recursive: true, force: true}))
const tokenFile = join(work, 'token')
writeFileSync(tokenFile, await tokenFor('billing', 'apps'), {mode: 0o600})
const podEnv = (onChange: string): Record<string, string> => {
  const pod: V1Pod = {
    metadata: {
      labels: {[INJECT_LABEL]: 'true'},
      annotations: {
        [Annotations.inject]: 'true',
        [Annotations.vaultAddress]: lab.baoAddr,
        [Annotations.vaultRole]: 'billing',
        [Annotations.vaultAuthPath]: 'auth/k8s-lab',
        [Annotations.secretPaths]: 'secret/data/billing/db,secret/data/billing/api',
        [Annotations.envMap]: 'password=PGPASSWORD,username=PGUSER;*=API_',
        [Annotations.onChange]: onChange,
      },
    },
    spec: {
      containers: [
        {
          name: 'app',
          image: 'app:1',
          command: [process.execPath, '-e', CHILD_SCRIPT],
          // $(VAR) in args is expanded by the wrapper with the kubelet's rules, secrets included.
          args: ['$(PGPASSWORD)', '$$(APP_MODE)', '$(NOPE)', '$(APP_MODE)-x', '$(PGPASSWORD'],
          env: [{name: 'APP_MODE', value: 'prod'}],
        },
      ],
    },
  }
  const r = mutatePod(pod, {wrapperImage: 'w:1', wrapperSource: '/w'})
  if (!r.allowed) throw new Error(r.message)
  const env: Record<string, string> = {PATH: process.env.PATH ?? '/usr/bin:/bin', CLOUDTASER_SA_TOKEN_FILE: tokenFile, CLOUDTASER_POLL_INTERVAL: '300ms'}
  // As the kubelet hands them over: each value expanded with the variables defined before it.
  const defined: Record<string, string> = {}
  for (const e of applyPatch(pod, r.patch).spec!.containers[0]!.env!) env[e.name] = defined[e.name] = expand(e.value!, (n) => defined[n])
  return env
}
const runs: Run[] = []
const start = (env: Record<string, string>) => {
  const r = runWrapper(env)
  runs.push(r)
  return r
}
t.teardown(() => runs.forEach((r) => r.killAll()))

t.test('the child gets exactly its mapped secrets; the wrapper\'s own environment has none', async (t) => {
  const r = start(podEnv('restart'))
  const first = await r.waitFor('start')
  // tap's processinfo hooks spawn() and adds its own variables to every child process.
  const env = Object.fromEntries(Object.entries(first.env!).filter(([k]) => !k.startsWith('_TAPJS_') && k !== 'NODE_OPTIONS'))
  const {PATH: _p, APP_MODE, ...secrets} = env
  t.equal(APP_MODE, 'prod', 'the container\'s own variables pass through')
  t.same(secrets, {PGPASSWORD: db.password, PGUSER: db.username, API_key: api.key, API_region: api.region})
  t.notOk(Object.keys(env).some((k) => k.startsWith('CLOUDTASER_')), 'no CLOUDTASER_* in the child')
  const own = readFileSync(`/proc/${r.proc.pid}/environ`, 'utf8')
  for (const c of canaries) t.notOk(own.includes(c), 'wrapper environ holds no secret value')
  t.same(first.argv, [db.password, '$(APP_MODE)', '$(NOPE)', 'prod-x', '$(PGPASSWORD'], 'args expanded: a secret, $$ escape, unknown and malformed refs left as written')
  const log = r.stderr.join('')
  t.match(log, expectedMemory(log), 'memfd_secret store where the kernel has it')
  t.match(log, /"spawn":"posix_spawn"/, 'and posix_spawn from it')
  t.match(log, /"event":"hardening","dumpable":false,"coreLimit":"0:0"/, 'not dumpable, no core file')
  t.equal(/^Max core file size\s+0\s+0\s/m.test(readFileSync(`/proc/${first.pid}/limits`, 'utf8')), true, 'the app inherited RLIMIT_CORE 0:0')

  r.proc.kill('SIGUSR1')
  t.match(await r.waitFor('usr1'), {why: 'usr1'}, 'SIGUSR1 reached the child')

  t.test('a new KV version restarts the child with the new value', async (t) => {
    db.password = secretValue('pgpass2')
    await root('POST', 'secret/data/billing/db', {data: db})
    const second = await r.waitFor('start', 2)
    t.equal(second.env!.PGPASSWORD, db.password)
    t.equal(second.argv![0], db.password, 'the args are expanded again with the new value')
    t.not(second.pid, first.pid, 'a new process')
    t.ok(r.lines.some((l) => l.why === 'term'), 'the old one got SIGTERM')
  })

  t.test('SIGTERM reaches the child and the wrapper exits with the child\'s code', async (t) => {
    r.proc.kill('SIGTERM')
    t.equal(await r.exit, 42)
  })
})

t.test('sighup mode: a new KV version sends SIGHUP and keeps the process', async (t) => {
  const r = start(podEnv('sighup'))
  const first = await r.waitFor('start')
  api.region = 'eu-central-1'
  await root('POST', 'secret/data/billing/api', {data: api})
  const hup = await r.waitFor('hup')
  t.equal(hup.pid, first.pid)
  r.proc.kill('SIGTERM')
  t.equal(await r.exit, 42)
})

t.test('OpenBao unreachable at start: retries until the deadline, exits 5, the app never starts, the reason in the termination message', async (t) => {
  // The kubelet's /dev/termination-log stands in here: the wrapper only writes a file that exists.
  const dir = mkdtempSync(join(tmpdir(), 'wrapper-term-'))
  t.teardown(() => rmSync(dir, {recursive: true, force: true}))
  const termLog = join(dir, 'termination-log')
  writeFileSync(termLog, 'stale text from a previous run that is longer than the new message will be')
  const r = start({...podEnv('restart'), CLOUDTASER_VAULT_ADDR: 'http://127.0.0.1:1', CLOUDTASER_START_DEADLINE: '1500ms', CLOUDTASER_TERMINATION_LOG: termLog})
  t.equal(await r.exit, 5)
  t.equal(r.lines.length, 0, 'the child never ran')
  const err = r.stderr.join('')
  t.match(err, /openbao_retry/)
  t.match(err, /WRAPPER_START_DEADLINE.*unreachable/)
  t.match(readFileSync(termLog, 'utf8'), /^WRAPPER_START_DEADLINE: OpenBao stayed unreachable for 2s: .*\(The application was not started without its secrets\..*\)$/s)
  // Nothing created where the kubelet mounted no file.
  const absent = join(dir, 'absent')
  const r2 = start({...podEnv('restart'), CLOUDTASER_VAULT_ADDR: 'http://127.0.0.1:1', CLOUDTASER_START_DEADLINE: '200ms', CLOUDTASER_TERMINATION_LOG: absent})
  t.equal(await r2.exit, 5)
  t.same(readdirSync(dir), ['termination-log'], 'no file created')
})

t.test('a refused login fails at once with the role named', async (t) => {
  const r = start({...podEnv('restart'), CLOUDTASER_VAULT_ROLE: 'nobody'})
  t.equal(await r.exit, 4)
  t.match(r.stderr.join(''), /BAO_LOGIN_REFUSED.*role nobody/)
})

t.test('a mapped field the secret lacks names path and field and starts nothing', async (t) => {
  const r = start({...podEnv('restart'), CLOUDTASER_ENV_MAP: 'nofield=X'})
  t.equal(await r.exit, 3)
  t.match(r.stderr.join(''), /secret\/data\/billing\/db has no field \\"nofield\\"/)
  t.equal(r.lines.length, 0)
})

t.test('leak hunt: no canary in etcd, in any file the run wrote, or in any log', async (t) => {
  const files: string[] = []
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n)
      const s = statSync(p, {throwIfNoEntry: false})
      if (s?.isDirectory()) walk(p)
      else if (s?.isFile()) files.push(p)
    }
  }
  // The control plane's dir holds etcd's data and WAL and every component's log.
  walk(lab.controlPlane.dir)
  walk(work)
  t.ok(files.some((f) => f.includes('etcd')), 'etcd files were searched')
  const logs = runs.flatMap((r) => r.stderr).join('')
  for (const c of canaries) {
    t.notOk(logs.includes(c), 'not in wrapper logs')
    for (const f of files) if (readFileSync(f).includes(c)) t.fail(`${c} found in ${f}`)
  }
  t.ok(files.length > 0 && logs.length > 0 && canaries.length > 0, `${files.length} files and ${logs.length} bytes of wrapper logs searched for ${canaries.length} canaries`)
})
