import {join} from 'node:path'
import type {KubeConfig} from '@kubernetes/client-node'
import {ensureBinary} from './binary.js'
import {startControlPlane, type ControlPlane, type ControlPlaneOptions} from './controlplane.js'
import {makeInstanceDir} from './instance-dir.js'
import {NODE_NAME, startNodeAgents, startRuntime, stopNode, type NodeRuntime} from './node.js'
import {createNodeNetwork, sweepStaleNodes, teardownNode, type NodeRecord} from './node-net.js'
import {startOpenBao, type OpenBao, type OpenBaoOptions} from './openbao.js'
import type {ManagedProcess} from './process.js'

export interface LabOptions {
  controlPlane?: ControlPlaneOptions
  openBao?: OpenBaoOptions
  /**
   * A node where Pods run (kubelet, containerd, kube-proxy, CoreDNS, a registry): opt-in, since
   * it costs seconds and ~0.5 GB more. `dir` is where it keeps its state (default: a temp dir).
   */
  node?: boolean | {dir?: string; daemon?: boolean}
}

export interface LabNode {
  name: string
  /** host:port of the lab's registry (plain HTTP), reachable from the host and containerd. */
  registry: string
  /** Addresses and ranges: the host's and node's ends of the veth, pod and Service ranges. */
  network: NodeRecord
  processes: ManagedProcess[]
  /** Milliseconds from startLab: registry answering, pause image pushed, containerd up, control plane + OpenBao + runtime all up (servers), node Ready. */
  timings: {registry: number; pause: number; containerd: number; servers: number; ready: number}
}

export interface Lab {
  kubeconfigPath: string
  kubeConfig: KubeConfig
  baoAddr: string
  baoToken: string
  controlPlane: ControlPlane
  openBao: OpenBao
  node?: LabNode
  /** Milliseconds until everything was ready (the servers start in parallel). */
  readyMs: number
  stop(): Promise<void>
}

/** The servers, started in parallel. If any fails, the others are stopped before the throw. */
export async function startLab(options: LabOptions = {}): Promise<Lab> {
  const t0 = Date.now()
  const nodeOptions = options.node === true ? {} : options.node || undefined
  let record: NodeRecord | undefined
  let removeNodeDir = () => {}
  if (nodeOptions) {
    const bin = await ensureBinary()
    await sweepStaleNodes() // before makeInstanceDir sweeps directories: a dead node's holds mounts
    const owned = nodeOptions.dir ? undefined : makeInstanceDir('node')
    removeNodeDir = () => owned?.remove()
    record = await createNodeNetwork(nodeOptions.dir ?? owned!.dir, bin, {daemon: nodeOptions.daemon}).catch((err: unknown) => {
      removeNodeDir()
      throw err
    })
  }
  const daemon = typeof nodeOptions === 'object' ? nodeOptions.daemon : undefined
  const [cp, bao, runtime] = await Promise.allSettled([
    startControlPlane({...options.controlPlane, ...(record ? {node: {...record, nodeName: NODE_NAME}} : {})}),
    startOpenBao({...options.openBao, ...(record ? {host: record.hostIp} : {})}),
    record ? startRuntime({record, bin: record.bin, daemon, t0}) : Promise.resolve(undefined as NodeRuntime | undefined),
  ])
  const cleanup = async () => {
    if (record) await teardownNode(record).catch(() => {})
    removeNodeDir()
    await Promise.all([cp, bao].map((r) => (r.status === 'fulfilled' ? r.value.stop() : undefined)))
  }
  if (cp.status === 'rejected' || bao.status === 'rejected' || runtime.status === 'rejected') {
    await cleanup()
    throw [cp, bao, runtime].map((r) => (r.status === 'rejected' ? r.reason : undefined)).find(Boolean)
  }
  const controlPlane = cp.value
  const openBao = bao.value
  let node: LabNode | undefined
  if (record && runtime.value) {
    const tServers = Date.now() - t0
    try {
      const agents = await startNodeAgents({record, bin: record.bin, daemon, kubeconfigPath: controlPlane.kubeconfigPath, caPath: controlPlane.caPath, kubeConfig: controlPlane.kubeConfig, server: controlPlane.server, pkiDir: join(controlPlane.dir, 'pki')})
      node = {name: NODE_NAME, registry: runtime.value.registry, network: record, processes: [...runtime.value.processes, ...agents], timings: {...runtime.value.timings, servers: tServers, ready: Date.now() - t0}}
    } catch (err) {
      await cleanup()
      throw err
    }
  }
  let stopped: Promise<void> | undefined
  const stopAll = async () => {
    if (node) {
      const problems = await stopNode(node.network, node.processes)
      removeNodeDir()
      if (problems.length) process.emitWarning(`lab node teardown: ${problems.join('; ')}`)
    }
    await Promise.all([controlPlane.stop(), openBao.stop()])
  }
  return {
    kubeconfigPath: controlPlane.kubeconfigPath,
    kubeConfig: controlPlane.kubeConfig,
    baoAddr: openBao.addr,
    baoToken: openBao.token,
    controlPlane,
    openBao,
    ...(node ? {node} : {}),
    readyMs: Date.now() - t0,
    stop: () => (stopped ??= stopAll()),
  }
}
