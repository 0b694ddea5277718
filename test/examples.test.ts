// Every example plan is a test: valid ones must validate, invalid ones must fail with exactly
// the lines in their .expected file (file:line:col: message).
import t from 'tap'
import {readdirSync, readFileSync} from 'node:fs'
import {checkPlanFiles} from '../lib/plan/check-files.js'
import {formatIssue} from '../lib/plan/issues.js'

const dir = 'examples/plans'
const valid = readdirSync(dir).filter((f) => f.endsWith('.yaml'))
const invalid = readdirSync(`${dir}/invalid`).filter((f) => f.endsWith('.yaml'))

t.ok(valid.length >= 3, 'at least three valid examples')
t.ok(invalid.length >= 5, 'several invalid examples')

for (const name of valid) {
  t.test(`valid: ${name}`, async (t) => {
    const r = await checkPlanFiles([`${dir}/${name}`])
    t.same(r.files[0]?.issues, [])
    t.equal(r.valid, true)
  })
}

for (const name of invalid) {
  t.test(`invalid: ${name}`, async (t) => {
    const file = `${dir}/invalid/${name}`
    const expected = readFileSync(file.replace(/\.yaml$/, '.expected'), 'utf8').trimEnd().split('\n')
    const r = await checkPlanFiles([file])
    t.equal(r.valid, false)
    t.same(r.files[0]?.issues.map(formatIssue), expected)
  })
}
