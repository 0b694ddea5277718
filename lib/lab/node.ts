import {copyFileSync, existsSync, mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {CoreV1Api, type KubeConfig} from '@kubernetes/client-node'
import {dump} from 'js-yaml'
import {buildImage, PAUSE, pushImage} from './images.js'
import {writeKubeconfig} from './kubeconfig.js'
import {teardownNode, type NodeRecord} from './node-net.js'
import {spawnManaged, type ManagedProcess} from './process.js'
import {waitReady} from './wait.js'

/**
 * One Kubernetes node: containerd and runc from Debian, Debian's CNI plugins, the lab's OCI
 * registry, and the kubelet, kube-proxy and CoreDNS from the control-plane binary, all in the
 * node's network namespace (node-net.ts). Started with `nsenter --net` only, never `ip netns
 * exec`: that would also give each process a private mount namespace, hiding the kubelet's
 * volume mounts from containerd. Every setting here failed without it on this machine kind;
 * docs/lab.md says why for each.
 */
export const NODE_NAME = 'cloudtaser-lab'
export const REGISTRY_PORT = 5000
/** containerd resolves <alias>/name:tag to the lab's registry, so manifests need not name its address. */
export const REGISTRY_ALIAS = 'cloudtaser.lab'
const CNI_BIN = '/usr/lib/cni'

export interface NodeStartOptions {
  record: NodeRecord
  /** Control-plane binary (kubelet, kube-proxy, coredns subcommands). */
  bin: string
  daemon?: boolean
  timeoutMs?: number
  /** Start of the lab, for timings. */
  t0?: number
}

export interface NodeRuntime {
  registry: string
  pauseImage: string
  processes: ManagedProcess[]
  timings: {registry: number; containerd: number; pause: number}
}

function spawnInNode(record: NodeRecord, daemon: boolean | undefined, name: string, command: string, args: string[], env?: NodeJS.ProcessEnv): ManagedProcess {
  return spawnManaged({
    name,
    command: 'nsenter',
    args: [`--net=/run/netns/${record.netns}`, command, ...args],
    logPath: join(record.dir, `${name}.log`),
    cwd: record.dir,
    daemon,
    env,
  })
}

/**
 * The part of the node that needs no apiserver: the registry (with the pause image pushed) and
 * containerd. Runs while the control plane starts.
 */
export async function startRuntime(options: NodeStartOptions): Promise<NodeRuntime> {
  const {record, daemon} = options
  const timeoutMs = options.timeoutMs ?? 60_000
  const t0 = options.t0 ?? Date.now()
  const processes: ManagedProcess[] = []
  const registry = `${record.nodeIp}:${REGISTRY_PORT}`
  try {
    mkdirSync(join(record.dir, 'registry'), {recursive: true})
    writeFileSync(
      join(record.dir, 'registry.yml'),
      dump({
        version: 0.1,
        log: {level: 'warn'},
        storage: {filesystem: {rootdirectory: join(record.dir, 'registry')}, delete: {enabled: true}},
        http: {addr: registry},
      }),
    )
    const reg = spawnInNode(record, daemon, 'registry', '/usr/bin/docker-registry', ['serve', join(record.dir, 'registry.yml')])
    processes.push(reg)

    const containerdDir = join(record.dir, 'containerd')
    const cniConf = join(record.dir, 'cni', 'net.d')
    mkdirSync(cniConf, {recursive: true})
    // Plain HTTP to the lab's registry only; containerd reaches no other registry (no route).
    for (const name of [registry, REGISTRY_ALIAS]) {
      mkdirSync(join(containerdDir, 'certs.d', name), {recursive: true})
      writeFileSync(join(containerdDir, 'certs.d', name, 'hosts.toml'), `server = "http://${registry}"\n\n[host."http://${registry}"]\n  capabilities = ["pull", "resolve"]\n`)
    }
    const pauseImage = `${registry}/pause:3.10`
    writeFileSync(join(containerdDir, 'config.toml'), containerdConfig(record, containerdDir, cniConf, pauseImage))
    writeFileSync(join(cniConf, '10-lab.conflist'), JSON.stringify(cniConfig(record), null, 2))
    const containerd = spawnInNode(record, daemon, 'containerd', '/usr/bin/containerd', ['--config', join(containerdDir, 'config.toml')])
    processes.push(containerd)

    await waitReady(reg, 'the registry answering /v2/', async () => (await fetch(`http://${registry}/v2/`, {signal: AbortSignal.timeout(1000)})).ok, timeoutMs)
    const tRegistry = Date.now() - t0
    const pause = await buildImage(PAUSE)
    await pushImage(pause, registry)
    const tPause = Date.now() - t0
    const socket = record.criEndpoint.replace(/^unix:\/\//, '')
    await waitReady(containerd, 'its CRI socket', async () => existsSync(socket), timeoutMs)
    return {registry, pauseImage, processes, timings: {registry: tRegistry, pause: tPause, containerd: Date.now() - t0}}
  } catch (err) {
    await Promise.all(processes.map((p) => p.stop(0).catch(() => {})))
    throw err
  }
}

function containerdConfig(record: NodeRecord, dir: string, cniConf: string, pauseImage: string): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"'
  return `version = 2
root = "${dir}/root"
state = "${dir}/state"
# Snapshotters and plugins that need what this machine lacks (or write outside the lab).
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "${dir}/containerd.sock"
[ttrpc]
  address = "${dir}/containerd.sock.ttrpc"
[debug]
  level = "warn"
[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/opt"

[${cri}]
  sandbox_image = "${pauseImage}"
  # Root here lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj, every sandbox fails otherwise.
  restrict_oom_score_adj = true
  disable_apparmor = true
  # Pod network namespaces under the state directory, not /run/netns: a teardown finds its own.
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_cdi = false
[${cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
[${cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[${cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
  Root = "${dir}/runc"
[${cri}.cni]
  bin_dir = "${CNI_BIN}"
  conf_dir = "${cniConf}"
  max_conf_num = 1
[${cri}.registry]
  config_path = "${dir}/certs.d"
`
}

function cniConfig(record: NodeRecord): unknown {
  return {
    cniVersion: '1.0.0',
    name: record.cniNetwork,
    plugins: [
      {
        type: 'bridge',
        bridge: 'cni0',
        isGateway: true,
        // The host routes the pod range to the node, so Pods keep their addresses: no NAT.
        ipMasq: false,
        hairpinMode: true,
        ipam: {type: 'host-local', ranges: [[{subnet: record.podCidr}]], routes: [{dst: '0.0.0.0/0'}], dataDir: join(record.dir, 'cni', 'ipam')},
      },
      {type: 'portmap', capabilities: {portMappings: true}},
    ],
  }
}

/**
 * The kubelet, kube-proxy and CoreDNS, once the apiserver is up; returns when the node is Ready.
 * CoreDNS runs as a process on the node (no image, no Pod), answering at the node's address,
 * which is the kubelet's clusterDNS.
 */
export async function startNodeAgents(options: NodeStartOptions & {kubeconfigPath: string; caPath: string; kubeConfig: KubeConfig; server: string; pkiDir: string}): Promise<ManagedProcess[]> {
  const {record, daemon, bin} = options
  const timeoutMs = options.timeoutMs ?? 60_000
  const processes: ManagedProcess[] = []
  const kubeletDir = join(record.dir, 'kubelet')
  mkdirSync(kubeletDir, {recursive: true})
  // Each as itself: the kubelet as system:node:<name> (the Node authorizer and NodeRestriction
  // limit it to its own Pods' Secrets), kube-proxy as system:kube-proxy. CoreDNS, a process
  // here rather than a Pod with a ServiceAccount, reads Services with the admin's.
  const kubeconfig = join(record.dir, 'kubeconfig')
  copyFileSync(options.kubeconfigPath, kubeconfig)
  const kubeletKubeconfig = join(record.dir, 'kubelet.kubeconfig')
  writeKubeconfig(kubeletKubeconfig, options.server, options.pkiDir, 'cloudtaser-lab', 'node')
  const proxyKubeconfig = join(record.dir, 'kube-proxy.kubeconfig')
  writeKubeconfig(proxyKubeconfig, options.server, options.pkiDir, 'cloudtaser-lab', 'kube-proxy')
  try {
    const kubeletConfig = {
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      address: record.nodeIp,
      port: 10250,
      readOnlyPort: 0,
      healthzBindAddress: '127.0.0.1',
      healthzPort: 10248,
      authentication: {anonymous: {enabled: false}, webhook: {enabled: true}, x509: {clientCAFile: options.caPath}},
      authorization: {mode: 'Webhook'},
      // cgroup v1 here, and no systemd to delegate to.
      cgroupDriver: 'cgroupfs',
      failCgroupV1: false,
      cgroupRoot: record.cgroupRoot,
      failSwapOn: false,
      // Pods never inherit the host's resolver (it is off the machine).
      resolvConf: '',
      clusterDNS: [record.nodeIp],
      clusterDomain: 'cluster.local',
      containerRuntimeEndpoint: record.criEndpoint,
      podCIDR: record.podCidr,
      podLogsDir: join(record.dir, 'pod-logs'),
      volumePluginDir: join(kubeletDir, 'volume-plugins'),
      serializeImagePulls: false,
      // A lab on a shared disk: do not evict Pods because the machine's disk is fuller than 90%.
      evictionHard: {'memory.available': '100Mi', 'nodefs.available': '1%', 'imagefs.available': '1%', 'nodefs.inodesFree': '1%'},
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      registerNode: true,
      nodeStatusReportFrequency: '10s',
    }
    writeFileSync(join(record.dir, 'kubelet.yaml'), dump(kubeletConfig))
    processes.push(
      spawnInNode(record, daemon, 'kubelet', bin, [
        'kubelet',
        `--config=${join(record.dir, 'kubelet.yaml')}`,
        `--kubeconfig=${kubeletKubeconfig}`,
        `--root-dir=${kubeletDir}`,
        `--cert-dir=${join(kubeletDir, 'pki')}`,
        `--hostname-override=${NODE_NAME}`,
        `--node-ip=${record.nodeIp}`,
        '--v=1',
      ]),
    )

    const proxyConfig = {
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      clientConnection: {kubeconfig: proxyKubeconfig},
      mode: 'iptables',
      bindAddress: record.nodeIp,
      healthzBindAddress: '127.0.0.1:10256',
      metricsBindAddress: '127.0.0.1:10249',
      clusterCIDR: record.podCidr,
      hostnameOverride: NODE_NAME,
      nodePortAddresses: [`${record.nodeIp}/32`],
      iptables: {localhostNodePorts: false},
      // Leave the machine-wide conntrack table size and timeouts alone.
      conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s'},
    }
    writeFileSync(join(record.dir, 'kube-proxy.yaml'), dump(proxyConfig))
    processes.push(spawnInNode(record, daemon, 'kube-proxy', bin, ['kube-proxy', `--config=${join(record.dir, 'kube-proxy.yaml')}`]))

    // No `forward`: names outside the cluster are never resolved, so no query leaves the machine.
    const corefile = `.:53 {
    errors
    health ${record.nodeIp}:8080
    ready ${record.nodeIp}:8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig ${kubeconfig} cloudtaser-lab
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 30
    loadbalance
}
`
    writeFileSync(join(record.dir, 'Corefile'), corefile)
    const coredns = spawnInNode(record, daemon, 'coredns', bin, ['coredns', '-conf', join(record.dir, 'Corefile')])
    processes.push(coredns)

    const core = options.kubeConfig.makeApiClient(CoreV1Api)
    await Promise.all([
      waitReady(processes[0]!, 'the node Ready', async () => {
        const n = await core.readNode({name: NODE_NAME})
        return n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false
      }, timeoutMs),
      // Ready once its kubernetes plugin has synced: a Pod started next can resolve Services.
      waitReady(coredns, '/ready', async () => (await fetch(`http://${record.nodeIp}:8181/ready`, {signal: AbortSignal.timeout(1000)})).ok, timeoutMs),
    ])
    return processes
  } catch (err) {
    await Promise.all(processes.map((p) => p.stop(0).catch(() => {})))
    throw err
  }
}

/** Stops the node and removes everything it left (see teardownNode); returns what it could not. */
export async function stopNode(record: NodeRecord, processes: ManagedProcess[]): Promise<string[]> {
  const problems = await teardownNode(record)
  // Everything ran in the namespace and is gone; this reaps our children.
  await Promise.all(processes.map((p) => p.stop(0).catch(() => {})))
  return problems
}
