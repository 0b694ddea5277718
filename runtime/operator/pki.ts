import {execFile} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {isIP} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {CloudtaserError, ExitCode} from '../../lib/errors.js'

export interface ServingPki {
  caPem: string
  certPem: string
  keyPem: string
}

const run = promisify(execFile)

/**
 * A fresh CA and serving certificate on every start, held in memory only. node:crypto cannot
 * issue X.509 and no pure-JS generator is installed, so the `openssl` CLI writes into a private
 * (0700) temp dir that is removed as soon as the PEMs are read. The CA key is never kept: a
 * restart makes a new CA and the operator patches caBundle, so nothing needs rotating.
 */
export async function generateServingPki(hosts: string[], days = 365): Promise<ServingPki> {
  const dir = mkdtempSync(join(tmpdir(), 'cloudtaser-operator-pki-'))
  try {
    const f = (n: string) => join(dir, n)
    const san = hosts.map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(',')
    writeFileSync(f('ext.cnf'), `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`, {mode: 0o600})
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
    await run('openssl', ['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', String(days), '-subj', '/CN=cloudtaser-operator-ca',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
    await run('openssl', ['req', ...ec, '-keyout', f('tls.key'), '-out', f('tls.csr'), '-subj', `/CN=${hosts[0]}`])
    await run('openssl', ['x509', '-req', '-in', f('tls.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('tls.crt'), '-days', String(days), '-extfile', f('ext.cnf')])
    return {caPem: readFileSync(f('ca.crt'), 'utf8'), certPem: readFileSync(f('tls.crt'), 'utf8'), keyPem: readFileSync(f('tls.key'), 'utf8')}
  } catch (err) {
    throw new CloudtaserError('OPERATOR_PKI_FAILED', `cannot generate the webhook certificate with openssl: ${(err as Error).message}`, {
      exitCode: ExitCode.UNAVAILABLE,
      hint: 'The operator needs the openssl command (Debian package openssl) at start.',
      cause: err,
    })
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}
