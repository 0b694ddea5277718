import {execFile} from 'node:child_process'
import {existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, statSync, unlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {labError} from './errors.js'
import {alive} from './binary.js'
import {sleep} from './process.js'

const run = promisify(execFile)

/**
 * The node's network and everything else it leaves on the machine outside its directory. Each
 * node gets a slot (0-15) and with it a network namespace `ctlab<slot>` joined to the host by a
 * veth pair, its own pod and Service ranges, and a record in /run/cloudtaser-lab/ that lets
 * teardownNode() remove all of it even after its owner died or its directory is gone.
 */
export interface NodeRecord {
  slot: number
  netns: string
  hostIf: string
  /** The host's end of the veth: the apiserver and OpenBao listen here, reachable from Pods. */
  hostIp: string
  /** The node's address inside the namespace: kubelet, registry, CoreDNS. */
  nodeIp: string
  podCidr: string
  serviceCidr: string
  /** The `kubernetes` Service's ClusterIP (first address of serviceCidr). */
  kubernetesIp: string
  /** The kubelet's cgroup root, under every cgroup v1 controller. */
  cgroupRoot: string
  /** CNI network name: its IPAM and result caches are keyed by it. */
  cniNetwork: string
  dir: string
  /** containerd's CRI socket (unix:///...). */
  criEndpoint: string
  /** The control-plane binary, which holds the CRI teardown (`cri-down`). */
  bin: string
  /** The process whose node this is, unless it is a daemon (`lab up`): dead owner, stale node. */
  owner?: number
}

export const RECORD_DIR = '/run/cloudtaser-lab'
const SLOTS = 16
/** Kernel settings the kubelet changes on start (KernelTunableModify); restored by the last node down. */
const KUBELET_SYSCTLS = ['kernel/panic', 'kernel/panic_on_oops', 'vm/overcommit_memory']
/**
 * Machine paths that nodes create outside their directories: `ip netns`' shared mount, the
 * shims' socket directory, libcni's cache, the kubelet's container-log links and its
 * device-plugin socket (both hard-coded). Those absent before the first node are removed
 * after the last one.
 */
export const HOST_PATHS = ['/run/netns', '/run/containerd', '/var/lib/cni', '/var/log/containers', '/var/lib/kubelet']
const hostRecord = join(RECORD_DIR, 'host.json')

const recordPath = (netns: string) => join(RECORD_DIR, `${netns}.json`)

export function readRecords(): NodeRecord[] {
  if (!existsSync(RECORD_DIR)) return []
  return readdirSync(RECORD_DIR)
    .filter((f) => /^ctlab\d+\.json$/.test(f))
    .flatMap((f) => {
      try {
        const r = JSON.parse(readFileSync(join(RECORD_DIR, f), 'utf8')) as NodeRecord
        // '{}' is a slot being claimed right now.
        return r.netns ? [r] : []
      } catch {
        return []
      }
    })
}

async function ip(...args: string[]): Promise<void> {
  try {
    await run('ip', args)
  } catch (err) {
    throw labError('NODE_NETWORK', `ip ${args.join(' ')}: ${(err as {stderr?: string}).stderr?.trim() || (err as Error).message}`, 'The node needs root (CAP_NET_ADMIN) and iproute2.')
  }
}

async function inNetns(netns: string, command: string, args: string[]): Promise<void> {
  await run('nsenter', [`--net=/run/netns/${netns}`, command, ...args])
}

/**
 * Claims a free slot, creates its namespace and veth, and writes the record. Nodes whose
 * directory no longer exists (an owner killed with SIGKILL) are torn down first.
 */
export async function createNodeNetwork(dir: string, bin: string, options: {daemon?: boolean} = {}): Promise<NodeRecord> {
  await sweepStaleNodes()
  for (let slot = 0; slot < SLOTS; slot++) {
    const netns = `ctlab${slot}`
    if (existsSync(recordPath(netns)) || existsSync(`/run/netns/${netns}`)) continue
    try {
      mkdirSync(RECORD_DIR, {recursive: true, mode: 0o700}) // the last node down removes it
      // Atomic claim: a concurrent lab that picked the same slot fails here and moves on.
      writeFileSync(recordPath(netns), '{}', {flag: 'wx'})
    } catch {
      continue
    }
    const record: NodeRecord = {
      slot,
      netns,
      hostIf: `${netns}h`,
      hostIp: `10.245.${slot}.1`,
      nodeIp: `10.245.${slot}.2`,
      podCidr: `10.244.${slot}.0/24`,
      serviceCidr: `10.96.${slot * 16}.0/20`,
      kubernetesIp: `10.96.${slot * 16}.1`,
      cgroupRoot: `/${netns}`,
      cniNetwork: netns,
      dir,
      criEndpoint: `unix://${join(dir, 'containerd', 'containerd.sock')}`,
      bin,
      ...(options.daemon ? {} : {owner: process.pid}),
    }
    writeFileSync(recordPath(netns), JSON.stringify(record, null, 2))
    const absent = HOST_PATHS.filter((p) => !existsSync(p))
    try {
      await ip('netns', 'add', netns)
      await ip('link', 'add', record.hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns)
      await ip('addr', 'add', `${record.hostIp}/24`, 'dev', record.hostIf)
      await ip('link', 'set', record.hostIf, 'up')
      await ip('-n', netns, 'addr', 'add', `${record.nodeIp}/24`, 'dev', 'eth0')
      await ip('-n', netns, 'link', 'set', 'eth0', 'up')
      await ip('-n', netns, 'link', 'set', 'lo', 'up')
      // Replies to Pods and traffic to ClusterIPs (the apiserver calling a webhook Service) go
      // through the node. No default route inside: nothing in the lab reaches beyond this machine.
      await ip('route', 'add', record.podCidr, 'via', record.nodeIp)
      await ip('route', 'add', record.serviceCidr, 'via', record.nodeIp)
      // Pods talk to the host through the node (forwarding), and Pod-to-Service-to-Pod on the
      // same bridge needs bridged packets to pass kube-proxy's rules (br_netfilter, per namespace).
      await inNetns(netns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.bridge.bridge-nf-call-iptables=1'])
      createCgroupRoot(record.cgroupRoot)
      saveHostState(absent)
      return record
    } catch (err) {
      await teardownNode(record).catch(() => {})
      throw err
    }
  }
  throw labError('NODE_NO_SLOT', `all ${SLOTS} lab node slots are taken (${RECORD_DIR})`, 'Stop other labs (`cloudtaser lab down`), or remove records of labs that no longer exist.')
}

/**
 * The kubelet refuses a cgroupRoot that does not exist in every hierarchy. A new cpuset cgroup
 * starts with no CPUs or memory nodes: give it the root's, or nothing can join it.
 */
function createCgroupRoot(root: string): void {
  for (const ctrl of readdirSync('/sys/fs/cgroup')) {
    const path = join('/sys/fs/cgroup', ctrl, root)
    try {
      mkdirSync(path, {recursive: true})
    } catch (err) {
      throw labError('NODE_CGROUP', `cannot create ${path}: ${(err as Error).message}`)
    }
    if (ctrl === 'cpuset') for (const f of ['cpuset.cpus', 'cpuset.mems']) writeFileSync(join(path, f), readFileSync(join('/sys/fs/cgroup', ctrl, f)))
  }
}

interface HostState {
  sysctls: Record<string, string>
  /** HOST_PATHS that did not exist before the first node. */
  created: string[]
}

/** Written by the first node; `created` was measured before it touched anything. */
/**
 * Tears down nodes whose owner died without stopping them (SIGKILL skips every hook) or whose
 * directory is gone; run before a new node is made, and before temp directories are swept
 * (a node's directory holds mounts that must go first).
 */
export async function sweepStaleNodes(): Promise<void> {
  for (const r of readRecords()) {
    if (!existsSync(r.dir) || (r.owner !== undefined && !alive(r.owner))) await teardownNode(r)
  }
}

function saveHostState(created: string[]): void {
  if (existsSync(hostRecord)) return
  const state: HostState = {sysctls: Object.fromEntries(KUBELET_SYSCTLS.map((k) => [k, readFileSync(`/proc/sys/${k}`, 'utf8').trim()])), created}
  writeFileSync(hostRecord, JSON.stringify(state))
}

async function restoreHostState(): Promise<void> {
  if (!existsSync(hostRecord)) return
  const state = JSON.parse(readFileSync(hostRecord, 'utf8')) as HostState
  for (const [k, v] of Object.entries(state.sysctls)) {
    try {
      writeFileSync(`/proc/sys/${k}`, v)
    } catch {
      // read-only here: nothing was changed either
    }
  }
  for (const path of state.created) {
    for (const m of mountsUnder(path)) await run('umount', [m]).catch(() => {})
    rmSync(path, {recursive: true, force: true})
  }
  rmSync(hostRecord, {force: true})
}

/** Pids of processes whose network namespace is the node's. */
function processesIn(netns: string): Array<{pid: number; argv: string[]}> {
  let ino: number
  try {
    ino = statSync(`/run/netns/${netns}`).ino
  } catch {
    return []
  }
  const found: Array<{pid: number; argv: string[]}> = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readlinkSync(`/proc/${entry}/ns/net`) !== `net:[${ino}]`) continue
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')
      if (argv.length > 1 || argv[0]) found.push({pid: Number(entry), argv})
    } catch {
      // exited meanwhile
    }
  }
  return found
}

async function killAll(pids: number[], graceMs = 3000): Promise<void> {
  const signal = (s: NodeJS.Signals) => pids.forEach((p) => {
    try {
      process.kill(p, s)
    } catch {
      // gone
    }
  })
  const alive = () => pids.filter((p) => {
    try {
      return !readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]?.startsWith('Z')
    } catch {
      return false
    }
  })
  signal('SIGTERM')
  for (const deadline = Date.now() + graceMs; alive().length && Date.now() < deadline; ) await sleep(50)
  if (!alive().length) return
  signal('SIGKILL')
  for (const deadline = Date.now() + 5000; alive().length && Date.now() < deadline; ) await sleep(50)
}

/** Mount points at or under `dir`, deepest first. */
export function mountsUnder(dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4]?.replaceAll('\\040', ' '))
    .filter((m): m is string => !!m && (m === dir || m.startsWith(prefix)))
    .sort((a, b) => b.length - a.length)
}

function cgroupProcs(root: string): number[] {
  const pids = new Set<number>()
  const walk = (path: string) => {
    try {
      for (const line of readFileSync(join(path, 'cgroup.procs'), 'utf8').split('\n')) if (line) pids.add(Number(line))
      for (const e of readdirSync(path, {withFileTypes: true})) if (e.isDirectory()) walk(join(path, e.name))
    } catch {
      // not there in this hierarchy
    }
  }
  for (const ctrl of readdirSync('/sys/fs/cgroup')) walk(join('/sys/fs/cgroup', ctrl, root))
  return [...pids]
}

function rmdirTree(path: string): void {
  if (!existsSync(path)) return
  for (const e of readdirSync(path, {withFileTypes: true})) if (e.isDirectory()) rmdirTree(join(path, e.name))
  try {
    rmdirSync(path) // cgroupfs: rmdir, never unlink the control files
  } catch {
    // a cgroup with a live process: left for the next teardown
  }
}

/**
 * Removes everything a node left: the kubelet first (so it restarts nothing), then every Pod
 * through the CRI (CNI DEL, sandbox namespaces, shims), then every process in the namespace,
 * mounts under its directory, the namespace with its veth and routes, its cgroups, CNI caches,
 * /var/log/containers links, the record; the kubelet's sysctl changes once no node is left.
 */
export async function teardownNode(record: NodeRecord): Promise<string[]> {
  const problems: string[] = []
  const procs = processesIn(record.netns)
  // Nothing of the node outlives this: short graces (a kubelet or containerd killed mid-write
  // loses only state that is removed next).
  await killAll(procs.filter((p) => p.argv[1] === 'kubelet').map((p) => p.pid), 500)
  const socket = record.criEndpoint?.replace(/^unix:\/\//, '')
  if (socket && existsSync(socket) && processesIn(record.netns).some((p) => p.argv[0]?.endsWith('containerd'))) {
    try {
      await run(record.bin, ['cri-down', '--endpoint', record.criEndpoint], {timeout: 90_000})
    } catch (err) {
      problems.push(`cri-down: ${(err as {stderr?: string}).stderr?.trim() || (err as Error).message}`)
    }
  }
  await killAll(processesIn(record.netns).map((p) => p.pid), 1000)
  // Last resort for a node whose containerd was already dead (owner killed): Pod processes
  // are still listed in the node's cgroups of the hierarchies they did not leave.
  if (record.cgroupRoot) await killAll(cgroupProcs(record.cgroupRoot), 1000)
  if (record.dir) {
    for (const m of mountsUnder(record.dir)) {
      try {
        await run('umount', ['-l', m])
      } catch (err) {
        problems.push(`umount ${m}: ${(err as Error).message}`)
      }
    }
  }
  if (existsSync(`/run/netns/${record.netns}`)) await ip('netns', 'del', record.netns).catch((err: Error) => problems.push(err.message))
  await run('ip', ['link', 'del', record.hostIf]).catch(() => {}) // gone with the namespace, normally
  if (record.cgroupRoot) for (const ctrl of readdirSync('/sys/fs/cgroup')) rmdirTree(join('/sys/fs/cgroup', ctrl, record.cgroupRoot))
  for (const cache of ['/var/lib/cni/results', '/var/lib/cni/networks']) {
    if (!existsSync(cache)) continue
    for (const f of readdirSync(cache)) if (f === record.cniNetwork || f.startsWith(`${record.cniNetwork}-`)) rmSync(join(cache, f), {recursive: true, force: true})
  }
  if (record.dir && existsSync('/var/log/containers')) {
    for (const f of readdirSync('/var/log/containers')) {
      try {
        if (readlinkSync(join('/var/log/containers', f)).startsWith(`${record.dir}/`)) unlinkSync(join('/var/log/containers', f))
      } catch {
        // not a link
      }
    }
  }
  rmSync(recordPath(record.netns), {force: true})
  // Claims in progress count: another lab may be creating its namespace right now.
  if (!readdirSync(RECORD_DIR).some((f) => /^ctlab\d+\.json$/.test(f))) {
    await restoreHostState()
    try {
      rmdirSync(RECORD_DIR)
    } catch {
      // a lab claiming a slot right now
    }
  }
  return problems
}
