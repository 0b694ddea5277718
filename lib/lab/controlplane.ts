import {execFile} from 'node:child_process'
import {mkdirSync, readFileSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {CoreV1Api, KubeConfig} from '@kubernetes/client-node'
import {ensureBinary} from './binary.js'
import {labError} from './errors.js'
import {writeKubeconfig} from './kubeconfig.js'
import {makeInstanceDir} from './instance-dir.js'
import {freePorts, httpsGet} from './net.js'
import {spawnManaged, type ManagedProcess} from './process.js'
import {retryOnPortClash, waitReady} from './wait.js'

/** The controllers workloads need; no node lifecycle, no cloud, no volume controllers. */
export const CONTROLLERS = [
  'deployment-controller',
  'replicaset-controller',
  'statefulset-controller',
  'daemonset-controller',
  'job-controller',
  'cronjob-controller',
  'namespace-controller',
  'garbage-collector-controller',
  'serviceaccount-controller',
  'root-ca-certificate-publisher-controller',
  'ttl-after-finished-controller',
]

/**
 * With a node: the not-ready taint removed when the node is Ready (without it every Pod stays
 * Pending), Endpoints and EndpointSlices for Services, and garbage collection of Pods.
 */
export const NODE_CONTROLLERS = [
  'node-lifecycle-controller',
  'endpoints-controller',
  'endpointslice-controller',
  'endpointslice-mirroring-controller',
  'pod-garbage-collector-controller',
  'taint-eviction-controller',
]

/** Where the apiserver listens when the lab has a node (see node-net.ts). */
export interface ControlPlaneNodeNetwork {
  /** The host's end of the node's veth: the apiserver binds and advertises it (never loopback). */
  hostIp: string
  serviceCidr: string
  /** The `kubernetes` Service's ClusterIP, in the serving certificate. */
  kubernetesIp: string
  /** The node's name: the PKI issues its kubelet's identity (system:node:<name>). */
  nodeName: string
}

export interface ControlPlaneOptions {
  /** Directory for PKI, etcd data, logs and the kubeconfig. Default: a fresh temp dir, removed by stop(). */
  dir?: string
  /** Processes outlive this Node process (`lab up`); stop() still stops them. */
  daemon?: boolean
  readyTimeoutMs?: number
  /** Serve a node: bind to its network, real endpoints, node controllers, a scheduler. */
  node?: ControlPlaneNodeNetwork
}

export interface ControlPlanePorts {
  etcd: number
  etcdPeer: number
  apiserver: number
  controllerManager: number
  scheduler?: number
}

export interface ControlPlane {
  dir: string
  kubeconfigPath: string
  kubeConfig: KubeConfig
  /** https://127.0.0.1:<port> */
  server: string
  /** The CA that signed the apiserver's serving and client certificates (PEM). */
  caPem: string
  caPath: string
  ports: ControlPlanePorts
  processes: ManagedProcess[]
  /** Milliseconds from the call to each component being ready. */
  timings: {binary: number; pki: number; etcd: number; apiserver: number; controllerManager: number; total: number}
  stop(): Promise<void>
}

const run = promisify(execFile)

export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const t0 = Date.now()
  const timeoutMs = options.readyTimeoutMs ?? 90_000
  const bin = await ensureBinary()
  const tBinary = Date.now() - t0
  const owned = options.dir ? undefined : makeInstanceDir('k8s')
  const dir = options.dir ?? owned!.dir
  const removeDir = () => owned?.remove()
  const pki = join(dir, 'pki')
  const processes: ManagedProcess[] = []
  const stopAll = async () => {
    // Clients of etcd first, so nothing logs a storm of connection errors while stopping.
    await Promise.all(processes.filter((p) => p.name !== 'etcd').map((p) => p.stop()))
    await Promise.all(processes.filter((p) => p.name === 'etcd').map((p) => p.stop()))
    processes.length = 0
  }
  const spawnIn = (name: string, args: string[]) => {
    const p = spawnManaged({name, command: bin, args: [name, ...args], logPath: join(dir, `${name}.log`), daemon: options.daemon, cwd: dir})
    processes.push(p)
    return p
  }

  try {
    mkdirSync(dir, {recursive: true})
    const node = options.node
    const host = node?.hostIp ?? '127.0.0.1'
    const hosts = ['127.0.0.1', 'localhost', ...(node ? [node.hostIp, node.kubernetesIp, 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'] : [])]
    await run(bin, ['pki', '--dir', pki, '--hosts', hosts.join(','), ...(node ? ['--node', node.nodeName] : [])])
    const tPki = Date.now() - t0
    const caPath = join(pki, 'ca.crt')
    const caPem = readFileSync(caPath, 'utf8')

    // etcd: its two ports are picked together; a clash only costs an etcd restart.
    const [etcd, etcdPeer] = await retryOnPortClash(async () => {
      const [client, peer] = (await freePorts(2)) as [number, number]
      // A retry must not find a member bootstrapped with the previous attempt's peer URL.
      rmSync(join(dir, 'etcd'), {recursive: true, force: true})
      const p = spawnIn('etcd', [
        '--name=lab',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${client}`,
        `--advertise-client-urls=http://127.0.0.1:${client}`,
        `--listen-peer-urls=http://127.0.0.1:${peer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
        `--initial-cluster=lab=http://127.0.0.1:${peer}`,
        // Throw-away data: skipping fsync makes apiserver bootstrap several times faster.
        '--unsafe-no-fsync',
        '--log-level=warn',
      ])
      try {
        await waitReady(p, 'etcd health', async () => {
          const r = await fetch(`http://127.0.0.1:${client}/health`, {signal: AbortSignal.timeout(1000)})
          return r.ok && ((await r.json()) as {health?: string}).health === 'true'
        }, timeoutMs)
      } catch (err) {
        await p.stop(0)
        processes.splice(processes.indexOf(p), 1)
        throw err
      }
      return [client, peer] as const
    })
    const tEtcd = Date.now() - t0

    const apiserver = await retryOnPortClash(async () => {
      const [port] = (await freePorts(1)) as [number]
      const p = spawnIn('kube-apiserver', [
        `--etcd-servers=http://127.0.0.1:${etcd}`,
        `--bind-address=${host}`,
        // No default route on these machines: the apiserver cannot guess an address to advertise.
        `--advertise-address=${host}`,
        `--secure-port=${port}`,
        `--cert-dir=${join(dir, 'apiserver')}`,
        `--tls-cert-file=${join(pki, 'server.crt')}`,
        `--tls-private-key-file=${join(pki, 'server.key')}`,
        `--client-ca-file=${caPath}`,
        `--service-account-issuer=https://127.0.0.1:${port}`,
        `--service-account-key-file=${join(pki, 'sa.pub')}`,
        `--service-account-signing-key-file=${join(pki, 'sa.key')}`,
        '--authorization-mode=Node,RBAC',
        // Default-on in 1.34; named so the lab's contract is visible in one place.
        `--enable-admission-plugins=NamespaceLifecycle,ServiceAccount,${node ? 'NodeRestriction,' : ''}MutatingAdmissionWebhook,ValidatingAdmissionWebhook`,
        `--service-cluster-ip-range=${node?.serviceCidr ?? '10.96.0.0/16'}`,
        ...(node
          ? [
              // The default tries the node's hostname through the machine's resolver (off the machine).
              '--kubelet-preferred-address-types=InternalIP',
              `--kubelet-client-certificate=${join(pki, 'admin.crt')}`,
              `--kubelet-client-key=${join(pki, 'admin.key')}`,
            ]
          : // 127.0.0.1 is not a valid Endpoints address; there is no kubelet or proxy to use it anyway.
            ['--endpoint-reconciler-type=none']),
        '--allow-privileged=true',
        '--profiling=false',
      ])
      try {
        await waitReady(p, '/readyz', async () => (await httpsGet(`https://${host}:${port}/readyz`, {ca: caPem})).status === 200, timeoutMs)
      } catch (err) {
        await p.stop(0)
        processes.splice(processes.indexOf(p), 1)
        throw err
      }
      return port
    })
    const tApiserver = Date.now() - t0
    const server = `https://${host}:${apiserver}`
    const kubeconfigPath = join(dir, 'kubeconfig')
    writeKubeconfig(kubeconfigPath, server, pki)

    // The controller manager and the scheduler: clients of the apiserver serving /healthz.
    const startComponent = (name: string, args: string[]) =>
      retryOnPortClash(async () => {
        const [port] = (await freePorts(1)) as [number]
        const p = spawnIn(name, [
          `--kubeconfig=${kubeconfigPath}`,
          `--authentication-kubeconfig=${kubeconfigPath}`,
          `--authorization-kubeconfig=${kubeconfigPath}`,
          // The apiserver has no front proxy, so there is no requestheader CA to look up (the
          // lookup would log an error every few seconds).
          '--authentication-skip-lookup',
          '--bind-address=127.0.0.1',
          `--secure-port=${port}`,
          `--cert-dir=${join(dir, name)}`,
          `--tls-cert-file=${join(pki, 'server.crt')}`,
          `--tls-private-key-file=${join(pki, 'server.key')}`,
          '--leader-elect=false',
          '--profiling=false',
          ...args,
        ])
        try {
          await waitReady(p, '/healthz', async () => (await httpsGet(`https://127.0.0.1:${port}/healthz`, {ca: caPem})).status === 200, timeoutMs)
        } catch (err) {
          await p.stop(0)
          processes.splice(processes.indexOf(p), 1)
          throw err
        }
        return port
      })
    const [controllerManager, scheduler] = await Promise.all([
      startComponent('kube-controller-manager', [
        `--controllers=${[...CONTROLLERS, ...(node ? NODE_CONTROLLERS : [])].join(',')}`,
        `--root-ca-file=${caPath}`,
        `--service-cluster-ip-range=${node?.serviceCidr ?? '10.96.0.0/16'}`,
      ]),
      node ? startComponent('kube-scheduler', []) : undefined,
    ])

    const kubeConfig = new KubeConfig()
    kubeConfig.loadFromFile(kubeconfigPath)
    // Ready means usable: Pods cannot be created before the default ServiceAccount exists.
    const core = kubeConfig.makeApiClient(CoreV1Api)
    const kcm = processes.find((p) => p.name === 'kube-controller-manager')!
    await waitReady(kcm, 'the default ServiceAccount', async () => {
      await core.readNamespacedServiceAccount({name: 'default', namespace: 'default'})
      return true
    }, timeoutMs)
    const tKcm = Date.now() - t0

    let stopped: Promise<void> | undefined
    return {
      dir,
      kubeconfigPath,
      kubeConfig,
      server,
      caPem,
      caPath,
      ports: {etcd, etcdPeer, apiserver, controllerManager, ...(scheduler ? {scheduler} : {})},
      processes: [...processes],
      timings: {binary: tBinary, pki: tPki, etcd: tEtcd, apiserver: tApiserver, controllerManager: tKcm, total: Date.now() - t0},
      stop: () => (stopped ??= stopAll().finally(removeDir)),
    }
  } catch (err) {
    await stopAll().catch(() => {})
    removeDir()
    if ((err as {code?: string}).code?.startsWith('LAB_')) throw err
    throw labError('START_FAILED', `control plane did not start: ${(err as Error).message}`, undefined, err)
  }
}
