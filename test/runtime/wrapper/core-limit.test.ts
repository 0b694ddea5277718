// RLIMIT_CORE through util-linux prlimit on a real process, read back from the kernel's /proc.
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
  const out = execFileSync('sh', ['-c', 'prlimit --pid $$ --core=0:0 && sh -c "ulimit -c 1024 2>&1 || true; grep \'Max core file size\' /proc/self/limits"'], {encoding: 'utf8'})
  t.match(out, /Max core file size\s+0\s+0/)
})
