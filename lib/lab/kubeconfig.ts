import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {dump} from 'js-yaml'

const b64 = (path: string) => readFileSync(path).toString('base64')

/**
 * A kubeconfig for one of the PKI's client certificates (`user`: admin, node, kube-proxy) with the CA and client certificate embedded, so the file alone is enough
 * for kubectl, client-node or a copy on another terminal.
 */
export function writeKubeconfig(path: string, server: string, pkiDir: string, name = 'cloudtaser-lab', user = 'admin'): void {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{name, cluster: {server, 'certificate-authority-data': b64(join(pkiDir, 'ca.crt'))}}],
    users: [{name: `${name}-${user}`, user: {'client-certificate-data': b64(join(pkiDir, `${user}.crt`)), 'client-key-data': b64(join(pkiDir, `${user}.key`))}}],
    contexts: [{name, context: {cluster: name, user: `${name}-${user}`, namespace: 'default'}}],
    'current-context': name,
  }
  writeFileSync(path, dump(config), {mode: 0o600})
}
