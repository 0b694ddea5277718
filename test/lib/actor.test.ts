// Who is recorded as having run a command: Git identity in a repository, else user@host; both variants agree.
import t from 'tap'
import {execFileSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, rmSync} from 'node:fs'
import {hostname, tmpdir, userInfo} from 'node:os'
import {join} from 'node:path'
import {currentActor, currentActorAsync} from '../../lib/actor.js'

const dir = mkdtempSync(join(tmpdir(), 'cloudtaser-actor-'))
t.teardown(() => rmSync(dir, {recursive: true, force: true}))
const repo = join(dir, 'repo')
const plain = join(dir, 'plain')
execFileSync('git', ['init', '-q', repo])
execFileSync('git', ['-C', repo, 'config', 'user.name', 'Ada Reviewer'])
execFileSync('git', ['-C', repo, 'config', 'user.email', 'ada@example.eu'])
mkdirSync(plain)
const saved = process.env.CLOUDTASER_ACTOR
delete process.env.CLOUDTASER_ACTOR
// Outside any repository even if the tests run from a checkout: Git stops looking at `dir`.
process.env.GIT_CEILING_DIRECTORIES = dir
t.teardown(() => {
  if (saved === undefined) delete process.env.CLOUDTASER_ACTOR
  else process.env.CLOUDTASER_ACTOR = saved
  delete process.env.GIT_CEILING_DIRECTORIES
})

t.test('inside a repository: the Git identity', async (t) => {
  t.equal(currentActor(repo), 'Ada Reviewer <ada@example.eu>')
  t.equal(await currentActorAsync(repo), 'Ada Reviewer <ada@example.eu>')
})

t.test('elsewhere: user@host', async (t) => {
  const expected = `${userInfo().username}@${hostname()}`
  t.equal(currentActor(plain), expected)
  t.equal(await currentActorAsync(plain), expected)
})

t.test('CLOUDTASER_ACTOR overrides both', async (t) => {
  process.env.CLOUDTASER_ACTOR = ' ci-runner '
  t.teardown(() => void delete process.env.CLOUDTASER_ACTOR)
  t.equal(currentActor(repo), 'ci-runner')
  t.equal(await currentActorAsync(plain), 'ci-runner')
})
