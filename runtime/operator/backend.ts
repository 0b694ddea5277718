import type {KubeConfig} from '@kubernetes/client-node'
import {CloudtaserError, ExitCode} from '../../lib/errors.js'
import {baoSession, type BaoAuth, type SessionSettings} from '../../lib/openbao/session.js'
import {MemoryStore, type BackendKind, type MaterialStore} from './store.js'
import {KubernetesSecretStore} from './store-kubernetes.js'
import {OpenBaoStore} from './store-openbao.js'

export type BackendSettings =
  | {kind: 'memory'}
  | {kind: 'openbao'; bao: SessionSettings; auth: BaoAuth; kvMount: string}
  | {kind: 'kubernetes'; kubeConfig: KubeConfig; namespace: string}

/** `vault` is the original product's value name for the same backend. */
export function backendKind(value: string): BackendKind {
  if (value === 'vault') return 'openbao'
  if (value === 'openbao' || value === 'kubernetes' || value === 'memory') return value
  throw new CloudtaserError('USAGE', `--secret-backend ${value}: expected openbao, kubernetes or memory`, {exitCode: ExitCode.USAGE})
}

export function makeStore(b: BackendSettings): MaterialStore {
  if (b.kind === 'openbao') return new OpenBaoStore(baoSession(b.bao, b.auth), b.kvMount)
  if (b.kind === 'kubernetes') return new KubernetesSecretStore(b.kubeConfig, b.namespace)
  return new MemoryStore()
}
