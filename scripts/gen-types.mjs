#!/usr/bin/env node
// Generates lib/plan/types.generated.ts from schema/plan.v1.json.
// With --check it fails when the committed file is stale, so the schema stays the one contract.
import {readFile, writeFile} from 'node:fs/promises'
import {compile} from 'json-schema-to-typescript'

const root = new URL('../', import.meta.url)
const schemaUrl = new URL('schema/plan.v1.json', root)
const outUrl = new URL('lib/plan/types.generated.ts', root)

const header = `/* eslint-disable */
// DO NOT EDIT. Generated from schema/plan.v1.json by \`npm run gen:types\`.
// CI fails when this file differs from what the schema generates.
`

const schema = JSON.parse(await readFile(schemaUrl, 'utf8'))
const body = await compile(schema, 'MigrationPlan', {
  bannerComment: '',
  additionalProperties: false,
  cwd: new URL('schema/', root).pathname,
  style: {singleQuote: true, semi: false, printWidth: 120},
  unreachableDefinitions: true,
})
const text = header + body

if (process.argv.includes('--check')) {
  const current = await readFile(outUrl, 'utf8').catch(() => '')
  if (current !== text) {
    console.error('lib/plan/types.generated.ts is stale: run `npm run gen:types` and commit the result.')
    process.exit(1)
  }
  console.log('generated types are up to date')
} else {
  await writeFile(outUrl, text)
  console.log('wrote lib/plan/types.generated.ts')
}
