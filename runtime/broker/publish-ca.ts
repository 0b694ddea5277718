// The cluster CA certificate is public, and wrappers need it to verify the broker. The broker
// learns it at bootstrap and writes it to one ConfigMap in its own namespace; the webhook reads
// that ConfigMap and hands the PEM to each protected Pod (no ConfigMap per namespace to keep).
import type {KubeHttp} from '../../lib/kube/http.js'

export const CA_KEY = 'ca.crt'
export const CA_SHA256_ANNOTATION = 'cloudtaser.io/ca-sha256'

export async function publishCa(kube: KubeHttp, where: {namespace: string; name: string}, ca: {pem: string; sha256: string}): Promise<void> {
  const base = `/api/v1/namespaces/${encodeURIComponent(where.namespace)}/configmaps`
  const body = (extra: object = {}) =>
    Buffer.from(JSON.stringify({apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: where.name, namespace: where.namespace, labels: {'app.kubernetes.io/part-of': 'cloudtaser', 'app.kubernetes.io/component': 'broker'}, annotations: {[CA_SHA256_ANNOTATION]: ca.sha256}, ...extra}, data: {[CA_KEY]: ca.pem}}))
  const created = await kube.send('POST', base, {body: body(), contentType: 'application/json'})
  if (created.status === 201) return
  if (created.status !== 409) throw new Error(`creating ConfigMap ${where.namespace}/${where.name}: HTTP ${created.status}: ${created.bytes.toString('utf8').slice(0, 300)}`)
  // It exists (a restart, or a rotated CA): replace it. A PUT without resourceVersion is an unconditional update.
  const put = await kube.send('PUT', `${base}/${encodeURIComponent(where.name)}`, {body: body(), contentType: 'application/json'})
  if (put.status !== 200) throw new Error(`updating ConfigMap ${where.namespace}/${where.name}: HTTP ${put.status}: ${put.bytes.toString('utf8').slice(0, 300)}`)
}

/** The PEM the broker published, or undefined when there is none yet. */
export async function readPublishedCa(kube: KubeHttp, where: {namespace: string; name: string}): Promise<string | undefined> {
  const r = await kube.send('GET', `/api/v1/namespaces/${encodeURIComponent(where.namespace)}/configmaps/${encodeURIComponent(where.name)}`)
  if (r.status === 404) return undefined
  if (r.status !== 200) throw new Error(`reading ConfigMap ${where.namespace}/${where.name}: HTTP ${r.status}`)
  const pem = (JSON.parse(r.bytes.toString('utf8')) as {data?: Record<string, string>}).data?.[CA_KEY]
  return pem?.includes('-----BEGIN CERTIFICATE-----') ? pem : undefined
}
