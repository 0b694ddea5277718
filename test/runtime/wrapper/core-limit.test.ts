// RLIMIT_CORE through util-linux prlimit on a real process (disableCoreDumps), read back from the
// kernel's /proc; then what that process starts inherits it and cannot raise it.
import t from 'tap'
import {spawn, execFileSync} from 'node:child_process'
import {coreLimitOf, disableCoreDumps} from '../../../runtime/wrapper/core-limit.js'

const hasPrlimit = (() => {
  try {
    execFileSync('prlimit', ['--version'], {stdio: 'ignore'})
    return true
  } catch {
    return false
  }
})()

t.test('soft and hard core limits drop to 0 and a child inherits them', {skip: hasPrlimit ? false : 'prlimit not installed'}, async (t) => {
  // A process with a raised limit stands in for the wrapper, so the test does not depend on the runner's.
  const proc = spawn('sh', ['-c', 'ulimit -S -c unlimited 2>/dev/null; ulimit -H -c unlimited 2>/dev/null; exec sleep 30'], {stdio: 'ignore'})
  t.teardown(() => proc.kill('SIGKILL'))
  await new Promise((r) => setTimeout(r, 200))
  const r = disableCoreDumps(proc.pid!)
  t.same(r, {applied: true, how: 'prlimit'})
  t.same(coreLimitOf(proc.pid!), ['0', '0'])
  t.same(disableCoreDumps(proc.pid!), {applied: true, how: 'already-zero'}, 'idempotent')
})

t.test('inherited across fork+exec, and the child cannot raise the hard limit', {skip: hasPrlimit ? false : 'prlimit not installed'}, async (t) => {
  // The parent waits for a line, so its children start only after disableCoreDumps ran on it.
  const parent = spawn('sh', ['-c', 'read go; sh -c "ulimit -c 1024 2>&1 || true; grep \'Max core file size\' /proc/self/limits"'], {stdio: ['pipe', 'pipe', 'ignore']})
  t.teardown(() => parent.kill('SIGKILL'))
  let out = ''
  parent.stdout.on('data', (d: Buffer) => (out += d.toString()))
  t.same(disableCoreDumps(parent.pid!), {applied: true, how: 'prlimit'})
  parent.stdin.end('go\n')
  await new Promise((r) => parent.on('exit', r))
  t.match(out, /Max core file size\s+0\s+0/, 'the grandchild has 0:0')
})
