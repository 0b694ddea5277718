// The layering rules in eslint.config.js fire: lib/ importing runtime/, and a command importing
// @kubernetes/client-node (also as a type), are lint errors (`npm run lint` checks the tree).
import t from 'tap'
import {ESLint} from 'eslint'

const root = new URL('..', import.meta.url).pathname
const eslint = new ESLint({cwd: root})
const lint = async (file: string, code: string): Promise<string[]> =>
  (await eslint.lintText(code, {filePath: `${root}${file}`}))[0]!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message)

t.test('lib/ must not import runtime/', async (t) => {
  t.match(await lint('lib/openbao/example.ts', "import {x} from '../../runtime/beacon/protocol.js'\nexport const y = x\n"), [/lib\/ never imports runtime/])
  t.same(await lint('lib/openbao/example.ts', "import {initInfoHash} from '../infohash.js'\nexport const y = initInfoHash\n"), [], 'lib/ importing lib/ is fine')
  t.same(await lint('runtime/beacon/example.ts', "import {initInfoHash} from '../../lib/infohash.js'\nexport const y = initInfoHash\n"), [], 'runtime/ may import lib/')
})

t.test('commands must not import @kubernetes/client-node', async (t) => {
  t.match(await lint('cli/commands/target/example.ts', "import {CoreV1Api} from '@kubernetes/client-node'\nexport const y = CoreV1Api\n"), [/lib\/kube/])
  t.match(await lint('cli/commands/target/example.ts', "import type {KubeConfig} from '@kubernetes/client-node'\nexport type Y = KubeConfig\n"), [/lib\/kube/], 'a type import too')
  t.same(await lint('lib/kube/example.ts', "import type {KubeConfig} from '@kubernetes/client-node'\nexport type Y = KubeConfig\n"), [], 'lib/kube may')
})
