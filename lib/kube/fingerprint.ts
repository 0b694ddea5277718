import type {KubeConfig} from '@kubernetes/client-node'
import {kubeHttp, type KubeHttp} from './http.js'
import type {KubeTarget} from './kubeconfig.js'

/**
 * The cluster's identity: the UID of its kube-system namespace, stable for the cluster's life and
 * different for every cluster. Plans record it (discover) and are checked against it (protect).
 */
export async function readFingerprint(http: KubeHttp): Promise<string> {
  return (await http.get<{metadata: {uid: string}}>('/api/v1/namespaces/kube-system')).metadata.uid
}

export async function clusterFingerprint(source: KubeConfig | KubeTarget): Promise<{uid: string; server: string}> {
  const http = await kubeHttp(source)
  return {uid: await readFingerprint(http), server: http.server}
}
