// docs/*.md and README.md tell the truth about the tree: every repository path they name exists.
// A path is (1) a backticked word that starts with a top-level folder of the repository, or is
// a file at its root (`lib/kube/http.ts`, `docs/`, `package.json`), or (2) a relative Markdown
// link target (`[x](../schema/plan.v1.json)`, resolved from the document's folder). A trailing
// `:line`, `#anchor` or `/` is dropped; words with placeholders or globs (`<`, `{`, `*`, `$`,
// `...`) and URLs are not paths. Names of things that are not files (commands, flags, codes)
// never start with a folder name, so they are never mistaken for paths.
import t from 'tap'
import {execFileSync} from 'node:child_process'
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {dirname, join, relative} from 'node:path'

const root = new URL('..', import.meta.url).pathname
const tracked = execFileSync('git', ['ls-files'], {cwd: root, encoding: 'utf8'}).split('\n').filter(Boolean)
const topLevel = new Set(tracked.map((f) => f.split('/')[0]!))
const docs = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]

const clean = (p: string): string => p.replace(/[#:].*$/, '').replace(/\/$/, '')
const isCandidate = (p: string): boolean => !/[<>{}*$]|\.\.\.|^[a-z]+:\/\//.test(p) && p.length > 0

/** Every (document, path) pair the rule finds. */
function namedPaths(): Array<{doc: string; path: string}> {
  const out: Array<{doc: string; path: string}> = []
  for (const doc of docs) {
    const text = readFileSync(join(root, doc), 'utf8')
    for (const [, word] of text.matchAll(/`([^`\s]+)`/g)) {
      const first = word!.split('/')[0]!
      if (isCandidate(word!) && topLevel.has(first) && (word!.includes('/') || tracked.includes(word!))) out.push({doc, path: clean(word!)})
    }
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (!isCandidate(target!) || target!.startsWith('#')) continue
      out.push({doc, path: relative(root, join(root, dirname(doc), clean(target!)))})
    }
  }
  return out
}

t.test('every path named in the docs exists', async (t) => {
  const found = namedPaths()
  t.ok(found.length > 50, `${found.length} paths named`)
  for (const {doc, path} of found) if (!existsSync(join(root, path))) t.fail(`${doc} names ${path}, which does not exist`)
})

t.test('the rule finds a missing path and leaves non-paths alone', async (t) => {
  t.ok(topLevel.has('lib') && topLevel.has('runtime'))
  t.notOk(existsSync(join(root, 'runtime/reverse-connect')), 'runtime/reverse-connect (not built) does not exist')
  t.equal(clean('lib/kube/http.ts:42'), 'lib/kube/http.ts')
  t.notOk(isCandidate('secret/data/{cluster}/<ns>'))
  t.notOk(isCandidate('https://example.eu/x'))
})
