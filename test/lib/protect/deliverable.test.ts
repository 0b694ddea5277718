import t from 'tap'
import type {V1Container} from '@kubernetes/client-node'
import {composedNames, envFromRemains, envRemains, expandedSecretNames, expansionRefs} from '../../../lib/protect/deliverable.js'

t.test('expansionRefs finds what the kubelet would look up, as its scanner does', async (t) => {
  // Cases after kubernetes third_party/forked/golang/expansion/expand_test.go.
  const cases: Array<[string, string[]]> = [
    ['$(VAR_A)', ['VAR_A']],
    ['___$(VAR_B)___', ['VAR_B']],
    ['$(VAR_A)-$(VAR_A)', ['VAR_A', 'VAR_A']],
    ['$$(VAR_B)', []],
    ['$$$(VAR_B)', ['VAR_B']],
    ['$$$$(VAR_B)', []],
    ['$(VAR_A', []],
    ['$VAR_A', []],
    ['$()', ['']],
    ['$(VAR_A)$(VAR_B)', ['VAR_A', 'VAR_B']],
    ['f000-$$VAR_A', []],
    ['--db-password=$(DB_PASSWORD)', ['DB_PASSWORD']],
    ['$(VAR_A)$', ['VAR_A']],
    ['$(DB password:)', ['DB password:']],
  ]
  for (const [text, names] of cases) t.same(expansionRefs(text), names, text)
})

const secret = (name: string, key = 'k', secretName = 's') => ({name, valueFrom: {secretKeyRef: {name: secretName, key}}})

t.test('a secret variable composed into a later one stays; one composed before its definition does not matter', async (t) => {
  const c: V1Container = {name: 'a', env: [{name: 'EARLY', value: '$(PW)'}, secret('PW'), {name: 'URL', value: 'x://u:$(PW)@h'}, secret('USER'), {name: 'PLAIN', value: '$(MODE)'}]}
  t.same([...composedNames(c)], [['PW', 'URL']])
  t.match(envRemains(c, 'PW'), /URL composes it with \$\(PW\)/)
  t.equal(envRemains(c, 'USER'), undefined)
  t.match(envRemains(c, 'A,B'), /contains ","/)
})

t.test('envFrom: a composed name its prefix may define keeps it; a prefix the env-map cannot carry keeps it', async (t) => {
  const c: V1Container = {name: 'a', envFrom: [{prefix: 'DB_', secretRef: {name: 'db'}}], env: [{name: 'URL', value: '$(DB_PASSWORD)'}]}
  t.match(envFromRemains(c, 'DB_'), /URL composes \$\(DB_PASSWORD\)/)
  t.equal(envFromRemains({...c, env: [{name: 'URL', value: '$(OTHER)'}]}, 'DB_'), undefined)
  t.match(envFromRemains({name: 'a', envFrom: [{prefix: 'A;', secretRef: {name: 'db'}}]}, 'A;'), /the prefix/)
})

t.test('expandedSecretNames: secret variables in command and args, not plain ones, not escaped ones', async (t) => {
  const c: V1Container = {
    name: 'a',
    command: ['/run', '--pw=$(PW)'],
    args: ['--mode=$(MODE)', '$$(USER)', '$(TOKEN_X)', '$(UNSET)'],
    env: [{name: 'MODE', value: 'prod'}, secret('PW'), secret('USER')],
    envFrom: [{prefix: 'TOKEN_', secretRef: {name: 't'}}],
  }
  t.same(expandedSecretNames(c), ['PW', 'TOKEN_X'])
  t.same(expandedSecretNames({name: 'b', command: ['/x']}), [])
})
