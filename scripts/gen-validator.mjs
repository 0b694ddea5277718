// Writes the plan schema's quick validator as code next to the compiled validate.js, so commands
// do not compile the schema at run time (see lib/plan/plan-ajv.ts). Runs after tsc in `npm run build`.
import {writeFileSync} from 'node:fs'

const {BUILT_VALIDATOR, validatorModuleSource} = await import('../dist/lib/plan/plan-ajv.js')
const out = new URL(`../dist/lib/plan/${BUILT_VALIDATOR}`, import.meta.url)
writeFileSync(out, validatorModuleSource())
console.log(`${BUILT_VALIDATOR}: quick plan validator built`)
