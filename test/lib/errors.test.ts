// The error registry (lib/errors.ts): a code gives its exit code and hint, a typo in a code does
// not type-check, and no call site gives a code another exit code than the registered one
// (except the uses listed here, each on purpose).
import t from 'tap'
import {execFileSync} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {CloudtaserError, ERRORS, ExitCode, type ErrorCode} from '../../lib/errors.js'

const root = new URL('../../', import.meta.url).pathname

t.test('the registered exit code and hint are the defaults', async (t) => {
  t.match(new CloudtaserError('KUBE_UNREACHABLE', 'x').toJSON(), {code: 'KUBE_UNREACHABLE', exitCode: ExitCode.UNAVAILABLE})
  t.match(new CloudtaserError('USAGE', 'x'), {exitCode: ExitCode.USAGE, hint: /--help/})
  t.match(new CloudtaserError('USAGE', 'x', {hint: 'other'}), {hint: 'other'})
  // @ts-expect-error: a code not in the registry is a type error (npm run typecheck fails without this line's marker).
  t.equal(new CloudtaserError('KUBE_UNREACHEABLE', 'x').exitCode, ExitCode.INTERNAL, 'and, from plain JavaScript, an internal error')
  const documented = new Set<number>(Object.values(ExitCode))
  for (const [code, {exitCode}] of Object.entries(ERRORS) as Array<[string, {exitCode: number}]>) t.ok(documented.has(exitCode) && exitCode !== ExitCode.OK, `${code}: exit ${exitCode}`)
})

// Uses that need another exit code than their code's registered one.
const ELSEWHERE = new Set(['PLAN_NO_FINGERPRINT lib/protect/run.ts CHECK_FAILED'])

t.test('call sites agree with the registry', async (t) => {
  const files = execFileSync('git', ['ls-files', 'lib/*.ts', 'cli/*.ts', 'runtime/*.ts'], {cwd: root, encoding: 'utf8'}).split('\n').filter(Boolean)
  let sites = 0
  for (const file of files) {
    const text = readFileSync(`${root}${file}`, 'utf8')
    // A literal code, then the first exitCode before the call's closing "})".
    for (const m of text.matchAll(/new CloudtaserError\(\s*'([A-Z0-9_]+)'((?:(?!new CloudtaserError)[\s\S]){0,900}?)\}\)/g)) {
      sites++
      const exit = /exitCode: ExitCode\.([A-Z_]+)/.exec(m[2]!)?.[1]
      if (!exit) continue
      const registered = ERRORS[m[1] as ErrorCode]?.exitCode
      if (registered !== ExitCode[exit as keyof typeof ExitCode] && !ELSEWHERE.has(`${m[1]} ${file} ${exit}`)) t.fail(`${file}: ${m[1]} with exit ${exit}, registered ${registered}`)
    }
  }
  t.ok(sites > 60, `${sites} call sites checked`)
})
