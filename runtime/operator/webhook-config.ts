import {AdmissionregistrationV1Api, type KubeConfig, type V1MutatingWebhook, type V1MutatingWebhookConfiguration} from '@kubernetes/client-node'
import {INJECT_LABEL, WEBHOOK_CONFIG_NAME} from '../../lib/annotations.js'

export {WEBHOOK_CONFIG_NAME}
export const WEBHOOK_NAME = 'inject.cloudtaser.io'
export const WEBHOOK_PATH = '/mutate-v1-pod'

export type ClientConfigTarget = {url: string} | {service: {name: string; namespace: string; port: number}}

export interface WebhookConfigOptions {
  target: ClientConfigTarget
  caPem: string
  /**
   * Fail by default: only labelled pods reach the webhook (objectSelector), and such a pod had its
   * secretKeyRefs removed by `target protect`, so starting it unwrapped gives an app without its
   * secrets. Refusing the create is the clearer failure, and the ReplicaSet retries it.
   */
  failurePolicy: 'Fail' | 'Ignore'
  timeoutSeconds: number
  /** Namespaces never sent to the webhook (the operator's own, kube-system). */
  excludeNamespaces: string[]
}

export function desiredWebhookConfiguration(o: WebhookConfigOptions): V1MutatingWebhookConfiguration {
  const clientConfig =
    'url' in o.target
      ? {url: o.target.url, caBundle: Buffer.from(o.caPem).toString('base64')}
      : {service: {...o.target.service, path: WEBHOOK_PATH}, caBundle: Buffer.from(o.caPem).toString('base64')}
  const webhook: V1MutatingWebhook = {
    name: WEBHOOK_NAME,
    clientConfig,
    rules: [{operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced'}],
    objectSelector: {matchLabels: {[INJECT_LABEL]: 'true'}},
    namespaceSelector: {matchExpressions: [{key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: o.excludeNamespaces}]},
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    reinvocationPolicy: 'IfNeeded',
    failurePolicy: o.failurePolicy,
    matchPolicy: 'Equivalent',
    timeoutSeconds: o.timeoutSeconds,
  }
  return {apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: {name: WEBHOOK_CONFIG_NAME, labels: {'app.kubernetes.io/managed-by': 'cloudtaser'}}, webhooks: [webhook]}
}

const statusOf = (err: unknown): number | undefined => (err as {code?: number}).code

/** Create, or replace the existing one (new caBundle, url, policy) on every operator start. */
export async function ensureWebhookConfiguration(kc: KubeConfig, o: WebhookConfigOptions): Promise<'created' | 'updated'> {
  const api = kc.makeApiClient(AdmissionregistrationV1Api)
  const desired = desiredWebhookConfiguration(o)
  for (let attempt = 0; ; attempt++) {
    let existing: V1MutatingWebhookConfiguration | undefined
    try {
      existing = await api.readMutatingWebhookConfiguration({name: WEBHOOK_CONFIG_NAME})
    } catch (err) {
      if (statusOf(err) !== 404) throw err
    }
    try {
      if (!existing) {
        await api.createMutatingWebhookConfiguration({body: desired})
        return 'created'
      }
      // The existing object's labels and annotations stay: when the Helm chart made it, they are
      // Helm's ownership marks, and dropping them breaks `helm upgrade` (a server-side apply
      // conflict on managed-by) and makes `helm uninstall` leave a Fail webhook behind.
      const {labels, annotations} = existing.metadata ?? {}
      await api.replaceMutatingWebhookConfiguration({
        name: WEBHOOK_CONFIG_NAME,
        body: {...desired, metadata: {...desired.metadata, ...(labels ? {labels} : {}), ...(annotations ? {annotations} : {}), resourceVersion: existing.metadata?.resourceVersion}},
      })
      return 'updated'
    } catch (err) {
      // Two replicas starting together: re-read and try again.
      if ((statusOf(err) === 409 || statusOf(err) === 404) && attempt < 5) continue
      throw err
    }
  }
}
