import {AdmissionregistrationV1Api, type KubeConfig, type V1MutatingWebhook, type V1MutatingWebhookConfiguration} from '@kubernetes/client-node'
import {INJECT_LABEL, WEBHOOK_CONFIG_NAME} from '../../lib/annotations.js'
import {CloudtaserError, ExitCode} from '../../lib/errors.js'

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

/** JSON with sorted keys: what the apiserver returns may order fields differently. */
const stable = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b))) : x))

const pick = (w: V1MutatingWebhook) =>
  stable({
    name: w.name,
    clientConfig: w.clientConfig,
    rules: w.rules,
    objectSelector: w.objectSelector,
    namespaceSelector: w.namespaceSelector,
    admissionReviewVersions: w.admissionReviewVersions,
    sideEffects: w.sideEffects,
    reinvocationPolicy: w.reinvocationPolicy,
    failurePolicy: w.failurePolicy,
    matchPolicy: w.matchPolicy,
    timeoutSeconds: w.timeoutSeconds,
  })

/** The PEM text of the caBundle the apiserver uses now for our webhook ('' when none). */
export const caBundleOf = (cfg: V1MutatingWebhookConfiguration | undefined): string => {
  const b64 = cfg?.webhooks?.find((w) => w.name === WEBHOOK_NAME)?.clientConfig.caBundle ?? cfg?.webhooks?.[0]?.clientConfig.caBundle
  return b64 ? Buffer.from(b64, 'base64').toString('utf8') : ''
}

export type SyncResult = {action: 'created' | 'updated' | 'unchanged'; caBundle: string}

/**
 * `create` mode (a workstation, the lab): the operator owns the whole object: create it, or
 * replace it when anything differs. Called on start and on every leader tick, so a deleted or
 * edited configuration comes back.
 */
export async function ensureWebhookConfiguration(kc: KubeConfig, o: WebhookConfigOptions): Promise<'created' | 'updated' | 'unchanged'> {
  return (await syncWebhookConfiguration(kc, o)).action
}

export async function syncWebhookConfiguration(kc: KubeConfig, o: WebhookConfigOptions): Promise<SyncResult> {
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
        return {action: 'created', caBundle: o.caPem}
      }
      // Labels are not compared: a chart-made object carries Helm's, which a replace keeps.
      const same = existing.webhooks?.length === 1 && pick(existing.webhooks[0]!) === pick(desired.webhooks![0]!)
      if (same) return {action: 'unchanged', caBundle: caBundleOf(existing)}
      // The existing object's labels and annotations stay: when the Helm chart made it, they are
      // Helm's ownership marks, and dropping them breaks `helm upgrade` (a server-side apply
      // conflict on managed-by) and makes `helm uninstall` leave a Fail webhook behind.
      const {labels, annotations} = existing.metadata ?? {}
      await api.replaceMutatingWebhookConfiguration({
        name: WEBHOOK_CONFIG_NAME,
        body: {...desired, metadata: {...desired.metadata, ...(labels ? {labels} : {}), ...(annotations ? {annotations} : {}), resourceVersion: existing.metadata?.resourceVersion}},
      })
      return {action: 'updated', caBundle: o.caPem}
    } catch (err) {
      // Two replicas starting together: re-read and try again.
      if ((statusOf(err) === 409 || statusOf(err) === 404) && attempt < 5) continue
      throw err
    }
  }
}

/**
 * `ca-bundle` mode (the Helm chart owns the object, its rules and selectors): set only the
 * caBundle of every webhook in it. The object must exist: the operator does not invent one.
 */
export async function patchCaBundle(kc: KubeConfig, name: string, caPem: string): Promise<SyncResult> {
  const api = kc.makeApiClient(AdmissionregistrationV1Api)
  const b64 = Buffer.from(caPem).toString('base64')
  for (let attempt = 0; ; attempt++) {
    let existing: V1MutatingWebhookConfiguration
    try {
      existing = await api.readMutatingWebhookConfiguration({name})
    } catch (err) {
      if (statusOf(err) !== 404) throw err
      throw new CloudtaserError('OPERATOR_WEBHOOK_CONFIG_MISSING', `MutatingWebhookConfiguration ${name} does not exist; with --webhook-config ca-bundle the operator only sets its caBundle`, {
        exitCode: ExitCode.CONFIG,
        hint: 'Install it with the Helm chart (or run the operator with --webhook-config create, which writes the whole object).',
      })
    }
    const hooks = existing.webhooks ?? []
    if (hooks.every((w) => w.clientConfig.caBundle === b64)) return {action: 'unchanged', caBundle: caPem}
    try {
      await api.replaceMutatingWebhookConfiguration({name, body: {...existing, webhooks: hooks.map((w) => ({...w, clientConfig: {...w.clientConfig, caBundle: b64}}))}})
      return {action: 'updated', caBundle: caPem}
    } catch (err) {
      if (statusOf(err) === 409 && attempt < 5) continue
      throw err
    }
  }
}
