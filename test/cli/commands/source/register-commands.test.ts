// source register / deregister as users and scripts see them (the built CLI against the lab's
// real OpenBao): output, --json, exit codes, clear errors, and the CA private key in no output
// and in no file the runs wrote (HOME, working directory and TMPDIR are one fresh directory).
import t from 'tap'
import {mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {type CliRun, runCli} from '../../../helpers/cli.js'
import {startOpenBao} from '../../../../lib/lab/index.js'
import {freePort} from '../../../../lib/lab/net.js'
import {renderPlan} from '../../../../lib/plan/io.js'
import {clientFor, labPlan} from '../../../lib/openbao/fixtures.js'

const bao = await startOpenBao()
t.teardown(() => bao.stop())
const root = clientFor(bao.addr, bao.token)
t.teardown(() => root.close())

const FP = '0ad50c05-1153-4508-9237-4cb2912e2c23'
const TWIN = '0ad50c05-ffff-4fff-8fff-ffffffffffff'
const dir = mkdtempSync(join(tmpdir(), 'ct-register-cli-'))
t.teardown(() => rmSync(dir, {recursive: true, force: true}))
const work = join(dir, 'work')
mkdirSync(work)
const withFp = join(work, 'plan.yaml')
const p = labPlan()
p.metadata.cluster = {name: 'prod-eu-1', fingerprint: FP}
writeFileSync(withFp, renderPlan(p))
const noFp = join(work, 'nofp.yaml')
writeFileSync(noFp, renderPlan(labPlan()))

const runs: CliRun[] = []
const cli = async (args: string[], env: NodeJS.ProcessEnv = {BAO_ADDR: bao.addr, BAO_TOKEN: bao.token}): Promise<CliRun> => {
  const r = await runCli(args, {env: {HOME: work, TMPDIR: work, CLOUDTASER_ACTOR: 'ci <ci@example.eu>', ...env}, cwd: work})
  runs.push(r)
  return r
}
const json = (r: CliRun) => JSON.parse(r.stdout)

t.test('register: dry run, real run, re-run; what was done, both hashes, the next step', async (t) => {
  const dry = await cli(['source', 'register', '--fingerprint', FP, '--dry-run'])
  t.equal(dry.code, 0, dry.stderr)
  t.match(dry.stdout, /would create bao-namespace cloudtaser\/0ad50c05/)
  t.match(dry.stdout, /Would create 6, would update 0, unchanged 0, conflicts 0/)
  t.match(dry.stdout, /Operational info hash: \(made with the CA on the real run\)/)
  t.equal(await root.read('sys/namespaces/cloudtaser'), undefined, 'dry run wrote nothing')

  const t0 = performance.now()
  const real = await cli(['source', 'register', '--fingerprint', FP])
  t.comment(`register through the built CLI (process start included): ${Math.round(performance.now() - t0)} ms`)
  t.equal(real.code, 0, real.stderr)
  t.match(real.stdout, /created +ca cloudtaser\/0ad50c05\/cloudtaser\/system\/0ad50c05-[-0-9a-f]+\/ca\/[0-9a-f]{64}\n/)
  t.match(real.stdout, /Created 6, updated 0, unchanged 0, conflicts 0/)
  t.match(real.stdout, /Init info hash: +5af11b82299622a908c5aa10383bfcfd84f6cd251c7094e2246c7daf419dc463/)
  t.match(real.stdout, /Operational info hash: +[0-9a-f]{64}\n/)
  t.match(real.stdout, /Registered: +\S+ by ci <ci@example.eu>/)
  t.match(real.stdout, /Next, on the cluster side/)

  const again = await cli(['source', 'register', '--plan', withFp, '--json'])
  t.equal(again.code, 0, again.stderr)
  t.match(json(again), {
    fingerprint: FP,
    clusterName: 'prod-eu-1',
    fingerprintFrom: 'plan',
    namespace: 'cloudtaser/0ad50c05',
    mount: 'cloudtaser',
    policy: 'cloudtaser-bridge-0ad50c05',
    summary: {create: 0, update: 0, unchanged: 6, conflict: 0},
    refused: false,
    infoHashes: {init: '5af11b82299622a908c5aa10383bfcfd84f6cd251c7094e2246c7daf419dc463', operational: /^[0-9a-f]{64}$/},
    registeredBy: 'ci <ci@example.eu>',
  })
  t.match(real.stdout, new RegExp(`Operational info hash: +${json(again).infoHashes.operational}`), 'the same hash on both runs')
})

t.test('old product flag names work', async (t) => {
  for (const [a, tok] of [
    ['--secretstore-address', '--secretstore-token'],
    ['--vault-address', '--vault-token'],
  ] as const) {
    const r = await cli(['source', 'register', '--fingerprint', FP, a, bao.addr, tok, bao.token, '--json'], {})
    t.equal(r.code, 0, r.stderr)
    t.match(json(r), {summary: {unchanged: 6}})
  }
})

t.test('bad input: clear errors, exit 2, nothing asked of OpenBao', async (t) => {
  const offline = {BAO_ADDR: `http://127.0.0.1:${await freePort()}`, BAO_TOKEN: 'x'}
  const bad = await cli(['source', 'register', '--fingerprint', 'kube-system'], offline)
  t.equal(bad.code, 2)
  t.match(bad.stderr, /Error \[BAD_FINGERPRINT\]: --fingerprint "kube-system" is not a cluster fingerprint/)
  t.match(bad.stderr, /Hint: Run `cloudtaser target fingerprint`/)
  t.match(json(await cli(['source', 'deregister', '--fingerprint', '1234', '--json'], offline)), {error: {code: 'BAD_FINGERPRINT', exitCode: 2}})
  const none = await cli(['source', 'register'], offline)
  t.equal(none.code, 2)
  t.match(none.stderr, /--fingerprint <kube-system UID> or --plan/)
  const nofp = await cli(['source', 'register', '--plan', noFp, '--json'], offline)
  t.equal(nofp.code, 2)
  t.match(json(nofp), {error: {code: 'PLAN_NO_FINGERPRINT', message: /has no metadata\.cluster\.fingerprint/}})
  const mismatch = await cli(['source', 'register', '--plan', withFp, '--fingerprint', TWIN], offline)
  t.equal(mismatch.code, 2)
  t.match(mismatch.stderr, /Error \[FINGERPRINT_MISMATCH\]: --fingerprint 0ad50c05-ffff-.* is not the cluster of .*plan\.yaml \(0ad50c05-1153-.*, "prod-eu-1"\)/)
})

t.test('OpenBao problems: unreachable 5, dead token 4, token without permission 4 naming the path', async (t) => {
  const down = await cli(['source', 'register', '--fingerprint', FP, '--json', '--bao-timeout', '2'], {BAO_ADDR: `http://127.0.0.1:${await freePort()}`, BAO_TOKEN: 'x'})
  t.equal(down.code, 5)
  t.match(json(down), {error: {code: 'BAO_UNREACHABLE'}})
  const dead = await cli(['source', 'register', '--fingerprint', FP], {BAO_ADDR: bao.addr, BAO_TOKEN: 'nope'})
  t.equal(dead.code, 4)
  t.match(dead.stderr, /Error \[BAO_INVALID_TOKEN\]/)
  const weak = (await root.call<{auth: {client_token: string}}>('POST', 'auth/token/create', {body: {policies: ['default'], ttl: '5m'}})).body!.auth.client_token
  const denied = await cli(['source', 'register', '--fingerprint', TWIN], {BAO_ADDR: bao.addr, BAO_TOKEN: weak})
  t.equal(denied.code, 4)
  t.match(denied.stderr, /Error \[BAO_PERMISSION_DENIED\]: permission denied: GET sys\/namespaces\/cloudtaser needs the "read" capability/)
  const noNs = await cli(['source', 'deregister', '--fingerprint', TWIN, '--no-namespace', '--json'], {BAO_ADDR: bao.addr, BAO_TOKEN: weak})
  t.equal(noNs.code, 4)
  t.match(json(noNs), {error: {code: 'BAO_PERMISSION_DENIED', details: {path: 'sys/mounts/cloudtaser-0ad50c05'}}})
})

t.test('conflict: a twin cluster (same first 8 hex digits) is refused with exit 6, then fits with --no-namespace', async (t) => {
  const r = await cli(['source', 'register', '--fingerprint', TWIN])
  t.equal(r.code, 6)
  t.match(r.stdout, /CONFLICT +bao-namespace cloudtaser\/0ad50c05 +\(belongs to cluster 0ad50c05-1153-.*--no-namespace\)/)
  t.match(r.stderr, /nothing was written/)
  const flat = await cli(['source', 'register', '--fingerprint', TWIN, '--no-namespace'])
  t.equal(flat.code, 0, flat.stderr)
  t.match(flat.stdout, /created +kv-mount cloudtaser-0ad50c05/)
  t.equal((await cli(['source', 'deregister', '--fingerprint', TWIN, '--no-namespace', '--purge'])).code, 0)
})

t.test('the CA private key is in OpenBao only: not in any output, not in any file the runs wrote', async (t) => {
  const sha = (await root.read<{data: {data: {caCertSha256: string}}}>(`cloudtaser/0ad50c05/cloudtaser/data/clusters/${FP}/registered`))!.data.data.caCertSha256
  const ca = (await root.read<{data: {data: {private_key: string}}}>(`cloudtaser/0ad50c05/cloudtaser/data/system/${FP}/ca/${sha}`))!.data.data.private_key
  const body = ca.split('\n').filter((l) => l && !l.startsWith('-----'))
  t.ok(body.length >= 2, 'the key was read back from OpenBao')
  const der = Buffer.from(body.join(''), 'base64')
  // Any 16-character window of the base64 body, or the raw 32-byte EC scalar, would give it away.
  const needles = [...body.flatMap((l) => [l.slice(0, 16), l.slice(-16)]), der.subarray(7, 39).toString('hex'), der.subarray(7, 39).toString('base64')]
  for (const r of runs) for (const n of needles) t.notOk((r.stdout + r.stderr).includes(n), 'not in stdout/stderr/--json')
  const files: string[] = []
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const f = join(d, e)
      if (statSync(f).isDirectory()) walk(f)
      else files.push(f)
    }
  }
  walk(dir)
  t.ok(files.length >= 2, `files to search: ${files.map((f) => f.slice(dir.length)).join(', ')}`)
  for (const f of files) {
    const bytes = readFileSync(f)
    t.notOk(needles.some((n) => bytes.includes(n)) || bytes.includes(der.subarray(7, 39)), `${f.slice(dir.length)} holds no key material`)
  }
})

t.test('deregister: dry run, records, purge; exit codes', async (t) => {
  const dry = await cli(['source', 'deregister', '--plan', withFp, '--dry-run'])
  t.equal(dry.code, 0, dry.stderr)
  t.match(dry.stdout, /would delete record cloudtaser\/0ad50c05\/cloudtaser\/clusters\/0ad50c05-[-0-9a-f]+\/registered/)
  t.match(dry.stdout, /Would create 0, would update 0, would delete 1, unchanged 1, conflicts 0/)
  t.ok(await root.read(`cloudtaser/0ad50c05/cloudtaser/data/clusters/${FP}/registered`), 'still registered after the dry run')
  const real = await cli(['source', 'deregister', '--fingerprint', FP, '--json'])
  t.equal(real.code, 0, real.stderr)
  t.match(json(real), {summary: {delete: 1, unchanged: 1, conflict: 0}, purge: false})
  const purge = await cli(['source', 'deregister', '--fingerprint', FP, '--purge'])
  t.equal(purge.code, 0, purge.stderr)
  t.match(purge.stdout, /deleted +bao-namespace cloudtaser\/0ad50c05 +\(with its mount cloudtaser, the CA and policy cloudtaser-bridge-0ad50c05/)
  for (let i = 0; i < 100 && (await root.read('cloudtaser/sys/namespaces/0ad50c05')); i++) await new Promise((r) => setTimeout(r, 100))

  await root.write('cloudtaser/sys/namespaces/0ad50c05', {})
  const foreign = await cli(['source', 'deregister', '--fingerprint', FP, '--purge'])
  t.equal(foreign.code, 6, 'a namespace cloudtaser did not make is never deleted')
  t.match(foreign.stdout, /CONFLICT +bao-namespace cloudtaser\/0ad50c05 +\(was not created by cloudtaser\)/)
  t.ok(await root.read('cloudtaser/sys/namespaces/0ad50c05'))
})
