// The AWS CLI (PyPI awscli, botocore + s3transfer: a client no one here wrote) through
// `cloudtaser s3-proxy run` as an operator starts it, against versitygw: put, multipart upload,
// download (s3transfer's HEAD + parallel ranged GETs), ranged get, list, head, copy, delete; every
// byte round-trips and the server's files hold no plaintext canary. The large file is 24 MiB by
// default (3 parts); CLOUDTASER_S3_LARGE_MB=200 runs the 200 MB.
import t from 'tap'
import {spawn, execFile} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {startOpenBao, startS3Server, repoRoot} from '../../../lib/lab/index.js'
import {OpenBaoClient} from '../../../lib/openbao/client.js'
import {resolveConnection} from '../../../lib/openbao/config.js'
import {isolatedEnv} from '../../helpers/cli.js'
import {storedFiles} from './fixture.js'

const run = promisify(execFile)
const aws = join(repoRoot(), '.venv', 'bin', 'aws')
const [bao, s3] = await Promise.all([startOpenBao(), startS3Server()])
t.teardown(() => Promise.all([bao.stop(), s3.stop()]))
const root = new OpenBaoClient(resolveConnection({'openbao-addr': bao.addr, token: bao.token}, {}, '/nonexistent'))
t.teardown(() => root.close())
await root.write('sys/mounts/transit', {type: 'transit'})
await root.write('transit/keys/cli', {})

const work = mkdtempSync(join(tmpdir(), 'cloudtaser-s3-awscli-'))
t.teardown(() => rmSync(work, {recursive: true, force: true}))
const pod = {id: `POD${randomBytes(6).toString('hex').toUpperCase()}`, secret: randomBytes(24).toString('base64url')}

const proxy = spawn(process.execPath, ['bin/run.js', 's3-proxy', 'run', '--port', '0', '--ops-port', '0', '--ops-host', '127.0.0.1', '--upstream', s3.endpoint, '--bao-auth', 'token', '--transit-key', 'cli'], {
  cwd: repoRoot(),
  env: isolatedEnv({
    BAO_ADDR: bao.addr,
    BAO_TOKEN: bao.token,
    CLOUDTASER_S3_ACCESS_KEY_ID: pod.id,
    CLOUDTASER_S3_SECRET_ACCESS_KEY: pod.secret,
    CLOUDTASER_S3_UPSTREAM_ACCESS_KEY_ID: s3.accessKeyId,
    CLOUDTASER_S3_UPSTREAM_SECRET_ACCESS_KEY: s3.secretAccessKey,
  }),
  stdio: ['ignore', 'pipe', 'pipe'],
})
t.teardown(() => void proxy.kill('SIGKILL'))
let stderr = ''
const listening = new Promise<{url: string; ops: string}>((resolve, reject) => {
  proxy.stderr.on('data', (c: Buffer) => {
    stderr += c
    const line = stderr.split('\n').find((l) => l.includes('"listening"'))
    if (line) resolve(JSON.parse(line) as {url: string; ops: string})
  })
  proxy.once('exit', (code) => reject(new Error(`s3-proxy run exited ${code}: ${stderr}`)))
})
const {url, ops} = await listening

writeFileSync(join(work, 'config'), '[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n')
const env = isolatedEnv({AWS_ACCESS_KEY_ID: pod.id, AWS_SECRET_ACCESS_KEY: pod.secret, AWS_CONFIG_FILE: join(work, 'config'), AWS_SHARED_CREDENTIALS_FILE: join(work, 'none'), AWS_EC2_METADATA_DISABLED: 'true'})
const cli = async (...args: string[]) => (await run(aws, ['--endpoint-url', url, ...args], {env, maxBuffer: 1 << 24})).stdout
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

const CANARY = `canary-${randomBytes(12).toString('hex')}`
const largeMb = Number(process.env.CLOUDTASER_S3_LARGE_MB || 24)
// Random data with the canary sprinkled through every 64 KiB segment.
const large = randomBytes(largeMb * 1024 * 1024)
for (let i = 0; i + CANARY.length < large.length; i += 65536) large.write(CANARY, i + 1000)
writeFileSync(join(work, 'large.bin'), large)
const small = Buffer.from(`${CANARY} small object\n`.repeat(100))
writeFileSync(join(work, 'small.txt'), small)

t.test('aws s3 / s3api through the proxy', async (t) => {
  await cli('s3', 'mb', 's3://cli')
  await cli('s3', 'cp', join(work, 'small.txt'), 's3://cli/small.txt')
  await cli('s3', 'cp', join(work, 'large.bin'), 's3://cli/dir/large.bin')
  t.pass(`uploaded ${largeMb} MiB with multipart`)

  await cli('s3', 'cp', 's3://cli/dir/large.bin', join(work, 'large.out'))
  t.equal(sha(readFileSync(join(work, 'large.out'))), sha(large), 'multipart object: every byte back (s3transfer ranged GETs)')
  await cli('s3', 'cp', 's3://cli/small.txt', join(work, 'small.out'))
  t.ok(readFileSync(join(work, 'small.out')).equals(small), 'small object: every byte back')

  await cli('s3api', 'get-object', '--bucket', 'cli', '--key', 'dir/large.bin', '--range', 'bytes=8388000-8389000', join(work, 'range.out'))
  t.ok(readFileSync(join(work, 'range.out')).equals(large.subarray(8388000, 8389001)), 'ranged get across a part boundary')

  const head = JSON.parse(await cli('s3api', 'head-object', '--bucket', 'cli', '--key', 'dir/large.bin')) as {ContentLength: number}
  t.equal(head.ContentLength, large.length, 'head: plaintext length')
  const ls = await cli('s3', 'ls', '--recursive', 's3://cli/')
  t.match(ls, new RegExp(`\\s${large.length} dir/large.bin`), 'ls: plaintext size')
  t.match(ls, new RegExp(`\\s${small.length} small.txt`))

  await cli('s3', 'cp', 's3://cli/small.txt', 's3://cli/copy.txt')
  await cli('s3', 'cp', 's3://cli/copy.txt', join(work, 'copy.out'))
  t.ok(readFileSync(join(work, 'copy.out')).equals(small), 'copy: every byte')
  await cli('s3', 'rm', 's3://cli/copy.txt')
  t.notMatch(await cli('s3', 'ls', 's3://cli/'), /copy\.txt/, 'deleted')

  const leaks = [...storedFiles(s3)].filter(([, b]) => b.includes(CANARY))
  t.same(leaks.map(([p]) => p), [], 'no file on the S3 server holds the canary')
  const metrics = await (await fetch(`${ops}/metrics`)).text()
  t.match(metrics, /cloudtaser_s3_proxy_requests_total\{operation="UploadPart",status="200"\} \d+/, 'metrics count operations')
})
