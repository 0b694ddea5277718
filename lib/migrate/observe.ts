import type {V1CronJob, V1DaemonSet, V1Deployment, V1Ingress, V1Job, V1Pod, V1ReplicaSet, V1ReplicationController, V1ServiceAccount, V1StatefulSet} from '@kubernetes/client-node'
import {listAll, type KubeHttp} from '../kube/http.js'
import {readSecretValues, type SecretWithValues} from '../kube/secret-values.js'
import type {BaoClient} from '../openbao/bao-client.js'
import {readKvValues, type KvState} from '../openbao/kv-values.js'
import type {SecretValues} from '../secret-bytes.js'
import {RunDigest} from './digest.js'
import {binaryFields, fromKv} from './encoding.js'
import type {NamespaceObjects} from './references.js'
import type {SourceObservation} from './transform.js'

/**
 * The reads the migrate executors share. Values stay inside these functions or in the
 * SecretValues they return (the caller wipes them); what leaves as observation is metadata,
 * booleans and field names.
 */

export interface ObservedSource {
  secret: SecretWithValues
  observation: SourceObservation
}

export async function observeSource(http: KubeHttp, namespace: string, name: string): Promise<ObservedSource | undefined> {
  const secret = await readSecretValues(http, namespace, name)
  if (!secret) return undefined
  return {secret, observation: {meta: secret, fields: secret.values.names, binaryFields: binaryFields(secret.values)}}
}

export interface KvComparison {
  state: KvState
  version?: number
  /** For `ok`: equal by the run's digest, and the names of the fields that differ. */
  equal?: boolean
  differing?: string[]
}

/**
 * Reads a KV version (the current one without `version`), decodes it as `base64Fields` say, and
 * compares it with `values` by digest. The KV values are wiped before returning.
 */
export async function compareWithKv(
  bao: BaoClient,
  digest: RunDigest,
  at: {mount: string; path: string; version?: number},
  values: SecretValues,
  base64Fields: readonly string[],
): Promise<KvComparison> {
  const read = await readKvValues(bao, at.mount, at.path, at.version)
  const decoded = fromKv(read.values, base64Fields)
  try {
    if (read.state !== 'ok') return {state: read.state, version: read.version}
    const equal = RunDigest.equal(digest.ofSecret(values), digest.ofSecret(decoded))
    return {state: 'ok', version: read.version, equal, differing: equal ? [] : digest.differences(values, decoded, 'Kubernetes', 'OpenBao')}
  } finally {
    decoded.wipe()
    read.values.wipe()
  }
}

const ns = (namespace: string): string => encodeURIComponent(namespace)

/** Every object of one namespace that can reference a Secret (see references.ts). */
export async function listNamespace(http: KubeHttp, namespace: string): Promise<NamespaceObjects> {
  const core = (kind: string) => `/api/v1/namespaces/${ns(namespace)}/${kind}`
  const group = (g: string, kind: string) => `/apis/${g}/namespaces/${ns(namespace)}/${kind}`
  const [pods, replicaSets, deployments, statefulSets, daemonSets, jobs, cronJobs, replicationControllers, serviceAccounts, ingresses] = await Promise.all([
    listAll<V1Pod>(http, core('pods')),
    listAll<V1ReplicaSet>(http, group('apps/v1', 'replicasets')),
    listAll<V1Deployment>(http, group('apps/v1', 'deployments')),
    listAll<V1StatefulSet>(http, group('apps/v1', 'statefulsets')),
    listAll<V1DaemonSet>(http, group('apps/v1', 'daemonsets')),
    listAll<V1Job>(http, group('batch/v1', 'jobs')),
    listAll<V1CronJob>(http, group('batch/v1', 'cronjobs')),
    listAll<V1ReplicationController>(http, core('replicationcontrollers')),
    listAll<V1ServiceAccount>(http, core('serviceaccounts')),
    listAll<V1Ingress>(http, group('networking.k8s.io/v1', 'ingresses')),
  ])
  return {pods, replicaSets, deployments, statefulSets, daemonSets, jobs, cronJobs, replicationControllers, serviceAccounts, ingresses}
}
