import {CoreV1Api, type KubeConfig, type V1Secret} from '@kubernetes/client-node'
import {kubeApiError, statusCode} from '../../lib/kube/errors.js'
import type {MaterialStore, Observed} from './store.js'

/** The name the Helm chart gives the (empty) Secret it renders for this backend. */
export const FALLBACK_SECRET_NAME = 'cloudtaser-operator-pki'

/**
 * `--secret-backend kubernetes`: the fallback for clusters without OpenBao at install time. The
 * material (CA key included) then sits in etcd like any Secret, which is exactly what cloudtaser
 * exists to avoid, so the operator warns at every start. Create fails on 409 and updates carry
 * the resourceVersion: the same check-and-set as KV v2.
 */
export class KubernetesSecretStore implements MaterialStore {
  readonly kind = 'kubernetes' as const
  readonly where: string
  private readonly api: CoreV1Api

  constructor(
    kc: KubeConfig,
    private readonly namespace: string,
    private readonly name: string = FALLBACK_SECRET_NAME,
  ) {
    this.api = kc.makeApiClient(CoreV1Api)
    this.where = `Kubernetes Secret ${namespace}/${name}`
  }

  private async get(): Promise<V1Secret | undefined> {
    try {
      return await this.api.readNamespacedSecret({name: this.name, namespace: this.namespace})
    } catch (err) {
      if (statusCode(err) === 404) return undefined
      throw kubeApiError(err, `secrets/${this.namespace}/${this.name}`)
    }
  }

  async version(): Promise<string | undefined> {
    return (await this.get())?.metadata?.resourceVersion
  }

  async read(): Promise<Observed> {
    const s = await this.get()
    if (!s) return {version: undefined}
    // The chart renders the Secret empty: no material yet, to be written over its version.
    if (Object.keys(s.data ?? {}).length === 0) return {version: s.metadata?.resourceVersion}
    const fields: Record<string, string> = {}
    for (const [k, v] of Object.entries(s.data ?? {})) fields[k] = Buffer.from(v, 'base64').toString('utf8')
    return {version: s.metadata?.resourceVersion, fields}
  }

  async write(fields: Record<string, string>, expected: string | undefined): Promise<string | undefined> {
    const ours = {'app.kubernetes.io/managed-by': 'cloudtaser', 'app.kubernetes.io/component': 'operator'}
    // data, not stringData: a replace then drops keys the new material no longer has.
    const data = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, Buffer.from(v).toString('base64')]))
    try {
      if (expected === undefined) {
        const created = await this.api.createNamespacedSecret({namespace: this.namespace, body: {metadata: {name: this.name, namespace: this.namespace, labels: ours}, type: 'Opaque', data}})
        return created.metadata?.resourceVersion
      }
      // A replace keeps the object's labels and annotations: when the Helm chart made it, they are
      // Helm's ownership marks (the webhook configuration's lesson, webhook-config.ts).
      const current = await this.get()
      if (current?.metadata?.resourceVersion !== expected) return undefined
      const metadata = {...current.metadata, labels: {...ours, ...current.metadata.labels}}
      const written = await this.api.replaceNamespacedSecret({name: this.name, namespace: this.namespace, body: {metadata, type: current.type ?? 'Opaque', data}})
      return written.metadata?.resourceVersion
    } catch (err) {
      if (statusCode(err) === 409) return undefined
      throw kubeApiError(err, `secrets/${this.namespace}/${this.name}`)
    }
  }

  async close(): Promise<void> {}
}
