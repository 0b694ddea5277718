// `cloudtaser beacon serve`: the relay plus its ops endpoint, stopped by SIGTERM/SIGINT with a drain.
import {BeaconServer, type BeaconServerOptions} from './server.js'
import {startOpsServer} from './ops-http.js'
import {jsonLogger, type Logger} from './log.js'

export interface BeaconServiceOptions extends Omit<BeaconServerOptions, 'logger' | 'onRelayChunk'> {
  opsHost?: string
  opsPort?: number
  logger?: Logger
}

export interface BeaconSummary {
  listen: {host: string; port: number; tls: boolean}
  ops: string
  pairsTotal: number
  bytesRelayed: number
  rejections: Record<string, number>
}

export interface RunningBeacon {
  beacon: BeaconServer
  listen: {host: string; port: number}
  opsUrl: string
  /** Resolves after a drain triggered by stop() or a signal. */
  stopped: Promise<BeaconSummary>
  stop(): void
}

export async function startBeaconService(opts: BeaconServiceOptions): Promise<RunningBeacon> {
  const logger = opts.logger ?? jsonLogger()
  const beacon = new BeaconServer({...opts, logger})
  const listen = await beacon.listen()
  let ops
  try {
    ops = await startOpsServer(beacon, opts.opsHost, opts.opsPort)
  } catch (err) {
    await beacon.close(0)
    throw err
  }
  logger('info', 'ops_listening', {url: ops.url})
  let stopNow!: () => void
  const stopSignal = new Promise<void>((resolve) => (stopNow = resolve))
  const onSignal = (sig: string): void => {
    logger('info', 'signal', {signal: sig})
    stopNow()
  }
  process.once('SIGTERM', onSignal)
  process.once('SIGINT', onSignal)
  const stopped = stopSignal.then(async () => {
    process.off('SIGTERM', onSignal)
    process.off('SIGINT', onSignal)
    await beacon.close()
    await ops.close()
    const m = beacon.metrics
    return {
      listen: {...listen, tls: !opts.plain},
      ops: ops.url,
      pairsTotal: m.pairsTotal,
      bytesRelayed: m.bytesBridgeToBroker + m.bytesBrokerToBridge,
      rejections: Object.fromEntries(Object.entries(m.rejections).filter(([, v]) => v > 0)),
    }
  })
  return {beacon, listen, opsUrl: ops.url, stopped, stop: () => stopNow()}
}
