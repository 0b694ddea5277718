import t from 'tap'
import {envMapNameProblem, formatEnvMap, parseEnvMap, type EnvMapGroup} from '../../lib/annotations.js'

t.test('env-map: one field under several names round-trips; groups and *=PREFIX keep their order', async (t) => {
  const groups: EnvMapGroup[] = [{fields: {password: ['DB_PASSWORD', 'PGPASSWORD'], username: ['DB_USER']}}, {fields: {}, allWithPrefix: 'API_'}, {fields: {}, allWithPrefix: ''}]
  const text = formatEnvMap(groups)
  t.equal(text, 'password=DB_PASSWORD,password=PGPASSWORD,username=DB_USER;*=API_;*=')
  t.same(parseEnvMap(text), groups)
  t.same(parseEnvMap(' a = X , a=Y ;'), [{fields: {a: ['X', 'Y']}}, {fields: {}}], 'spaces around entries are not part of names')
  t.throws(() => parseEnvMap('a'), /not field=ENV/)
  t.throws(() => parseEnvMap('a='), /no variable name/)
})

t.test('env-map: names Kubernetes accepts that the annotation cannot carry', async (t) => {
  for (const ok of ['DB_PASSWORD', '1PASSWORD', 'db password:', 'a.b-c', '$weird!'] ) t.equal(envMapNameProblem(ok), undefined, ok)
  t.match(envMapNameProblem('A,B'), /contains "," or ";"/)
  t.match(envMapNameProblem('A;B'), /contains "," or ";"/)
  t.match(envMapNameProblem(' A'), /starts or ends with a space/)
  t.match(envMapNameProblem('A '), /starts or ends with a space/)
})
