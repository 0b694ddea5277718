import t from 'tap'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {resolveConnection} from '../../../lib/openbao/config.js'

const home = mkdtempSync(join(tmpdir(), 'ct-bao-home-'))
t.teardown(() => rmSync(home, {recursive: true, force: true}))
const empty = mkdtempSync(join(tmpdir(), 'ct-bao-empty-'))
t.teardown(() => rmSync(empty, {recursive: true, force: true}))

t.test('flags beat BAO_* beat VAULT_*', async (t) => {
  const env = {BAO_ADDR: 'http://bao:8200/', VAULT_ADDR: 'http://vault:8200', BAO_TOKEN: 'b', VAULT_TOKEN: 'v', BAO_NAMESPACE: 'ns1'}
  const a = resolveConnection({}, env, empty)
  t.match(a, {addr: 'http://bao:8200', token: 'b', tokenSource: 'BAO_TOKEN', namespace: 'ns1', timeoutMs: 30_000})
  const b = resolveConnection({'openbao-addr': 'https://flag:1', token: 'f', 'bao-namespace': 'n2', 'bao-timeout': 5}, env, empty)
  t.match(b, {addr: 'https://flag:1', token: 'f', tokenSource: 'flag', namespace: 'n2', timeoutMs: 5000})
  const c = resolveConnection({}, {VAULT_ADDR: 'http://vault:8200', VAULT_TOKEN: 'v', VAULT_NAMESPACE: 'vn', VAULT_CLIENT_TIMEOUT: '7s'}, empty)
  t.match(c, {addr: 'http://vault:8200', tokenSource: 'VAULT_TOKEN', namespace: 'vn', timeoutMs: 7000})
})

t.test('the token file bao login writes', async (t) => {
  writeFileSync(join(home, '.vault-token'), 's.fromfile\n')
  t.match(resolveConnection({}, {BAO_ADDR: 'http://x:1'}, home), {token: 's.fromfile', tokenSource: 'token-file'})
})

t.test('config errors: exit 3 with a code', async (t) => {
  t.throws(() => resolveConnection({}, {}, empty), {code: 'BAO_NO_ADDRESS', exitCode: 3})
  t.throws(() => resolveConnection({}, {BAO_ADDR: 'bao:8200', BAO_TOKEN: 'x'}, empty), {code: 'BAO_BAD_ADDRESS', exitCode: 3})
  t.throws(() => resolveConnection({}, {BAO_ADDR: 'http://x:1'}, empty), {code: 'BAO_NO_TOKEN', exitCode: 3})
  t.throws(() => resolveConnection({}, {BAO_ADDR: 'http://x:1', BAO_TOKEN: 'x', BAO_CACERT: join(empty, 'nope.pem')}, empty), {code: 'BAO_CACERT_UNREADABLE', exitCode: 3})
})

t.test('CA file is read', async (t) => {
  const pem = join(home, 'ca.pem')
  writeFileSync(pem, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n')
  t.match(resolveConnection({}, {BAO_ADDR: 'https://x:1', BAO_TOKEN: 'x', VAULT_CACERT: pem}, empty), {caFile: pem, ca: /BEGIN CERTIFICATE/})
})
