import type {KubeConfig} from '@kubernetes/client-node'
import {startControlPlane, type ControlPlane, type ControlPlaneOptions} from './controlplane.js'
import {startOpenBao, type OpenBao, type OpenBaoOptions} from './openbao.js'

export interface LabOptions {
  controlPlane?: ControlPlaneOptions
  openBao?: OpenBaoOptions
}

export interface Lab {
  kubeconfigPath: string
  kubeConfig: KubeConfig
  baoAddr: string
  baoToken: string
  controlPlane: ControlPlane
  openBao: OpenBao
  /** Milliseconds until both were ready (they start in parallel). */
  readyMs: number
  stop(): Promise<void>
}

/** Both servers, started in parallel. If either fails, the other is stopped before the throw. */
export async function startLab(options: LabOptions = {}): Promise<Lab> {
  const t0 = Date.now()
  const [cp, bao] = await Promise.allSettled([startControlPlane(options.controlPlane), startOpenBao(options.openBao)])
  if (cp.status === 'rejected' || bao.status === 'rejected') {
    await Promise.all([cp, bao].map((r) => (r.status === 'fulfilled' ? r.value.stop() : undefined)))
    throw cp.status === 'rejected' ? cp.reason : (bao as PromiseRejectedResult).reason
  }
  const controlPlane = cp.value
  const openBao = bao.value
  let stopped: Promise<void> | undefined
  return {
    kubeconfigPath: controlPlane.kubeconfigPath,
    kubeConfig: controlPlane.kubeConfig,
    baoAddr: openBao.addr,
    baoToken: openBao.token,
    controlPlane,
    openBao,
    readyMs: Date.now() - t0,
    stop: () => (stopped ??= Promise.all([controlPlane.stop(), openBao.stop()]).then(() => undefined)),
  }
}
