// Beacon mode: the webhook gives protected Pods the cluster CA the broker published. Read every
// few seconds off the admission path, so an admission never waits on the apiserver for it, and
// a rotated CA reaches new Pods without an operator restart.
import type {KubeConfig} from '@kubernetes/client-node'
import {kubeHttp} from '../../lib/kube/http.js'
import {readPublishedCa} from '../broker/publish-ca.js'
import type {Logger} from './log.js'
import type {MutationSettings} from './mutation.js'

export const BROKER_CA_POLL_MS = 5_000

export function followBrokerCa(kubeConfig: KubeConfig, where: {namespace: string; name: string}, mutation: MutationSettings, log: Logger, signal: AbortSignal): void {
  const configMap = `${where.namespace}/${where.name}`
  mutation.brokerCa = {configMap, pem: mutation.brokerCa?.pem}
  void (async () => {
    const kube = await kubeHttp(kubeConfig)
    let failing = false
    while (!signal.aborted) {
      try {
        const pem = await readPublishedCa(kube, where)
        if (pem !== mutation.brokerCa!.pem) log('info', pem ? 'broker_ca_loaded' : 'broker_ca_missing', {configMap})
        mutation.brokerCa = {configMap, pem}
        failing = false
      } catch (err) {
        // Keep the last copy: a CA read a minute ago is still the CA.
        if (!failing) log('warn', 'broker_ca_read_failed', {configMap, error: (err as Error).message})
        failing = true
      }
      await new Promise((r) => setTimeout(r, BROKER_CA_POLL_MS).unref())
    }
  })()
}
