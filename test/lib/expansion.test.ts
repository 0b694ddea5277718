import t from 'tap'
import {expand} from '../../lib/expansion.js'

t.test('expand: the kubelet\'s semantics (cases of third_party/forked/golang/expansion/expand_test.go)', async (t) => {
  const vars: Record<string, string> = {VAR_A: 'A', VAR_B: 'B', VAR_C: 'C', VAR_REF: '$(VAR_A)', VAR_EMPTY: ''}
  const lookup = (n: string): string | undefined => vars[n]
  const cases: Array<[string, string]> = [
    ['$(VAR_A)', 'A'],
    ['___$(VAR_B)___', '___B___'],
    ['$(VAR_A)-$(VAR_A)', 'A-A'],
    ['$(VAR_A)-1', 'A-1'],
    ['$(VAR_A)_$(VAR_B)_$(VAR_C)', 'A_B_C'],
    ['$(VAR_REF)', '$(VAR_A)'],
    ['foo$(VAR_EMPTY)bar', 'foobar'],
    ['$(VAR_DNE)', '$(VAR_DNE)'],
    ['$$(VAR_B)_$(VAR_A)', '$(VAR_B)_A'],
    ['$$(VAR_DNE)', '$(VAR_DNE)'],
    ['$$$(VAR_B)', '$B'],
    ['$$$$(VAR_A)', '$$(VAR_A)'],
    ['f00__(VAR_A)__', 'f00__(VAR_A)__'],
    ['$(VAR_A', '$(VAR_A'],
    ['$(VAR_A$(VAR_B))', '$(VAR_A$(VAR_B))'],
    ['$VAR_A', '$VAR_A'],
    ['$', '$'],
    ['foo$', 'foo$'],
    ['$$', '$'],
    ['$()', '$()'],
    ['($(VAR_A))', '(A)'],
    ['--db-password=$(DB_PASSWORD)', '--db-password=$(DB_PASSWORD)'],
    ['\u00e9$(VAR_A)\u00e9', '\u00e9A\u00e9'],
  ]
  for (const [input, want] of cases) t.equal(expand(input, lookup), want, JSON.stringify(input))
})
