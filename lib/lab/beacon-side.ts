// Beacon mode on the lab, for the demo and the end-to-end test: the OpenBao side as a network
// namespace of its own (OpenBao and the bridge), joined to the host by a /30 and nothing else,
// and the beacon on the host, the only place both the cluster's node and the OpenBao side reach.
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
  /** The beacon's port, on every host address (the cluster side dials the node veth's host end). */
  beaconPort: number
  logs: {beacon: string[]; bridge: string[]}
  /** Gives the bridge a token with its policy only and starts it in the namespace. */
  startBridge(): Promise<void>
  stop(): Promise<void>
  /** For an exit handler, which cannot wait: SIGKILL everything, remove the namespace. OpenBao's directory stays. */
  killNow(): void
}

const ip = (args: string[]) => {
  const r = spawnSync('ip', args, {encoding: 'utf8'})
  if (r.status !== 0) throw labError('NODE_NETWORK', `ip ${args.join(' ')}: ${r.stderr.trim()}`)
}

export async function startBeaconSide(): Promise<BeaconSide> {
  // Names and the /30 from the pid: two labs on one machine get two sides.
  const id = String(process.pid % 10_000)
  const net = process.pid % 250
  const netns = `cteu${id}`
  const [hostIp, sideIp] = [`10.250.${net}.1`, `10.250.${net}.2`]
  const procs: ChildProcess[] = []
  let openbao: OpenBao | undefined
  const stop = async () => {
    for (const p of procs) p.kill('SIGKILL')
    await openbao?.stop()
    spawnSync('ip', ['netns', 'del', netns])
  }
  const killNow = () => {
    for (const p of procs) p.kill('SIGKILL')
    if (openbao) process.kill(openbao.process.pid, 'SIGKILL')
    spawnSync('ip', ['netns', 'del', netns])
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
    const beacon = spawn(process.execPath, [cli, 'beacon', 'serve', '--plain', '--host', '0.0.0.0', '--port', '0', '--ops-host', '127.0.0.1', '--ops-port', '0'], {stdio: ['ignore', 'ignore', 'pipe']})
    procs.push(beacon)
    beacon.stderr!.on('data', (c: Buffer) => logs.beacon.push(c.toString()))
    const beaconPort = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(labError('TIMEOUT', 'the beacon did not listen within 30 s')), 30_000)
      beacon.stderr!.on('data', () => {
        const m = /"event":"listening"[^\n]*"port":(\d+)/.exec(logs.beacon.join(''))
        if (m) {
          clearTimeout(timer)
          resolve(Number(m[1]))
        }
      })
      beacon.once('exit', (code) => reject(labError('START_FAILED', `the beacon exited (${code}): ${logs.beacon.join('').slice(-500)}`)))
    })
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
      async startBridge() {
        await bao('PUT', 'sys/policies/acl/cloudtaser-bridge', {policy: bridgeFleetPolicy()})
        const token = ((await bao('POST', 'auth/token/create', {policies: ['cloudtaser-bridge'], no_default_policy: true, ttl: '24h'})).auth as {client_token: string}).client_token
        const bridge = spawn('ip', ['netns', 'exec', netns, process.execPath, cli, 'bridge', 'run', '--beacon', `${hostIp}:${beaconPort}`, '--beacon-plain', '--refresh-interval', '2'], {
          env: {...process.env, BAO_ADDR: openbao!.addr, BAO_TOKEN: token},
          stdio: ['ignore', 'ignore', 'pipe'],
        })
        procs.push(bridge)
        bridge.stderr!.on('data', (c: Buffer) => logs.bridge.push(c.toString()))
      },
      stop,
      killNow,
    }
  } catch (err) {
    await stop()
    throw err
  }
}
