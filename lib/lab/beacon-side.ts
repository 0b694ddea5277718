// Beacon mode on the lab, for the demo and the end-to-end test: the OpenBao side as a network
// namespace of its own (OpenBao and the bridge), joined to the host by a /30 and nothing else,
// and the beacon on the host, the only place both the cluster's node and the OpenBao side reach.
// Reverse-connect: no beacon, and the side reaches the broker's NodePort and nothing else.
// The lab's own OpenBao stays where it is; this one is what the protected Pods' secrets live in.
import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {join} from 'node:path'
import {bridgeFleetPolicy} from '../openbao/bridge-policy.js'
import {labError} from './errors.js'
import {startOpenBao, type OpenBao} from './openbao.js'
import {repoRoot} from './paths.js'

export interface BeaconSide {
  /** The OpenBao side's network namespace. */
  netns: string
  /** The host's end of its /30: where the OpenBao side reaches the beacon. */
  hostIp: string
  openbao: OpenBao
  /** The beacon's port, on every host address (the cluster side dials the node veth's host end); 0 without a beacon. */
  beaconPort: number
  logs: {beacon: string[]; bridge: string[]}
  /**
   * Gives the bridge a token with its policy only and starts it in the namespace; `beacon: false`
   * starts it without one (reverse-connect: it dials the endpoints registrations name).
   */
  startBridge(o?: {beacon?: boolean}): Promise<void>
  /**
   * Reverse-connect: the side reaches `ip:port` (the broker's NodePort on the node) through the
   * host, and nothing else outside itself: a /32 route and OUTPUT rules that reject the rest. The
   * node gets a route back to the side (`back`: its namespace, the host's address on its link), so
   * the side's INPUT rules, as an OpenBao network's firewall would, refuse every connection but
   * the host's (this process reading OpenBao).
   */
  openOnlyTo(ip: string, port: number, back: {netns: string; via: string}): void
  stop(): Promise<void>
  /** For an exit handler, which cannot wait: SIGKILL everything, remove the namespace. OpenBao's directory stays. */
  killNow(): void
}

const ip = (args: string[]) => {
  const r = spawnSync('ip', args, {encoding: 'utf8'})
  if (r.status !== 0) throw labError('NODE_NETWORK', `ip ${args.join(' ')}: ${r.stderr.trim()}`)
}

export async function startBeaconSide({beacon: withBeacon = true}: {beacon?: boolean} = {}): Promise<BeaconSide> {
  // Names and the /30 from the pid: two labs on one machine get two sides.
  const id = String(process.pid % 10_000)
  const net = process.pid % 250
  const netns = `cteu${id}`
  const [hostIp, sideIp] = [`10.250.${net}.1`, `10.250.${net}.2`]
  const procs: ChildProcess[] = []
  let openbao: OpenBao | undefined
  // Set by openOnlyTo: the host forwards between the side and the node, and stops again after.
  let forwardWas: string | undefined
  let routeBack: string[] | undefined
  const restoreForward = () => {
    if (forwardWas !== undefined) spawnSync('sysctl', ['-qw', `net.ipv4.ip_forward=${forwardWas}`])
    if (routeBack) spawnSync('ip', routeBack)
    forwardWas = routeBack = undefined
  }
  const stop = async () => {
    for (const p of procs) p.kill('SIGKILL')
    await openbao?.stop()
    spawnSync('ip', ['netns', 'del', netns])
    restoreForward()
  }
  const killNow = () => {
    for (const p of procs) p.kill('SIGKILL')
    if (openbao) process.kill(openbao.process.pid, 'SIGKILL')
    spawnSync('ip', ['netns', 'del', netns])
    restoreForward()
  }
  try {
    ip(['netns', 'add', netns])
    ip(['link', 'add', `cteuh${id}`, 'type', 'veth', 'peer', 'name', `cteun${id}`])
    ip(['link', 'set', `cteun${id}`, 'netns', netns])
    ip(['addr', 'add', `${hostIp}/30`, 'dev', `cteuh${id}`])
    ip(['link', 'set', `cteuh${id}`, 'up'])
    ip(['-n', netns, 'addr', 'add', `${sideIp}/30`, 'dev', `cteun${id}`])
    ip(['-n', netns, 'link', 'set', `cteun${id}`, 'up'])
    ip(['-n', netns, 'link', 'set', 'lo', 'up'])
    openbao = await startOpenBao({host: sideIp, netns})
    const logs = {beacon: [] as string[], bridge: [] as string[]}
    const cli = join(repoRoot(), 'bin', 'run.js')
    const beaconPort = withBeacon ? await startBeacon(cli, logs.beacon, procs) : 0
    const bao = async (method: string, path: string, body: unknown) => {
      const r = await fetch(`${openbao!.addr}/v1/${path}`, {method, headers: {'X-Vault-Token': openbao!.token}, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000)})
      const text = await r.text()
      if (!r.ok) throw labError('OPENBAO_API', `OpenBao ${method} ${path}: HTTP ${r.status} ${text.slice(0, 300)}`)
      return text ? (JSON.parse(text) as Record<string, unknown>) : {}
    }
    return {
      netns,
      hostIp,
      openbao,
      beaconPort,
      logs,
      async startBridge({beacon = true} = {}) {
        await bao('PUT', 'sys/policies/acl/cloudtaser-bridge', {policy: bridgeFleetPolicy()})
        const token = ((await bao('POST', 'auth/token/create', {policies: ['cloudtaser-bridge'], no_default_policy: true, ttl: '24h'})).auth as {client_token: string}).client_token
        const via = beacon ? ['--beacon', `${hostIp}:${beaconPort}`, '--beacon-plain'] : []
        const bridge = spawn('ip', ['netns', 'exec', netns, process.execPath, cli, 'bridge', 'run', ...via, '--refresh-interval', '2', '--ops-port', '0'], {
          env: {...process.env, BAO_ADDR: openbao!.addr, BAO_TOKEN: token},
          stdio: ['ignore', 'ignore', 'pipe'],
        })
        procs.push(bridge)
        bridge.stderr!.on('data', (c: Buffer) => logs.bridge.push(c.toString()))
      },
      openOnlyTo(to: string, port: number, back: {netns: string; via: string}) {
        ip(['-n', netns, 'route', 'add', `${to}/32`, 'via', hostIp])
        ip(['-n', back.netns, 'route', 'add', `${sideIp}/32`, 'via', back.via])
        routeBack = ['-n', back.netns, 'route', 'del', `${sideIp}/32`]
        const rules = [
          ['-A', 'OUTPUT', '-o', 'lo', '-j', 'ACCEPT'],
          // Answers to connections made to the side (the host's test process reading OpenBao).
          ['-A', 'OUTPUT', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT'],
          ['-A', 'OUTPUT', '-d', to, '-p', 'tcp', '--dport', String(port), '-j', 'ACCEPT'],
          ['-A', 'OUTPUT', '-j', 'REJECT'],
          ['-A', 'INPUT', '-i', 'lo', '-j', 'ACCEPT'],
          ['-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT'],
          ['-A', 'INPUT', '-s', hostIp, '-j', 'ACCEPT'],
          ['-A', 'INPUT', '-j', 'REJECT'],
        ]
        for (const r of rules) {
          const out = spawnSync('ip', ['netns', 'exec', netns, 'iptables', ...r], {encoding: 'utf8'})
          if (out.status !== 0) throw labError('NODE_NETWORK', `iptables ${r.join(' ')} in ${netns}: ${out.stderr.trim()}`)
        }
        forwardWas ??= spawnSync('sysctl', ['-n', 'net.ipv4.ip_forward'], {encoding: 'utf8'}).stdout.trim()
        spawnSync('sysctl', ['-qw', 'net.ipv4.ip_forward=1'])
      },
      stop,
      killNow,
    }
  } catch (err) {
    await stop()
    throw err
  }
}

/** The beacon on the host, plain TCP on every address; resolves with its port. */
function startBeacon(cli: string, log: string[], procs: ChildProcess[]): Promise<number> {
  const beacon = spawn(process.execPath, [cli, 'beacon', 'serve', '--plain', '--host', '0.0.0.0', '--port', '0', '--ops-host', '127.0.0.1', '--ops-port', '0'], {stdio: ['ignore', 'ignore', 'pipe']})
  procs.push(beacon)
  beacon.stderr!.on('data', (c: Buffer) => log.push(c.toString()))
  return new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(labError('TIMEOUT', 'the beacon did not listen within 30 s')), 30_000)
    beacon.stderr!.on('data', () => {
      const m = /"event":"listening"[^\n]*"port":(\d+)/.exec(log.join(''))
      if (m) {
        clearTimeout(timer)
        resolve(Number(m[1]))
      }
    })
    beacon.once('exit', (code) => reject(labError('START_FAILED', `the beacon exited (${code}): ${log.join('').slice(-500)}`)))
  })
}
