// Health, readiness and metrics on their own port, so probes and scrapes never compete with
// (or get exposed alongside) the internet-facing relay port.
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import type {BeaconServer} from './server.js'

export interface OpsServer {
  url: string
  close(): Promise<void>
}

export async function startOpsServer(beacon: BeaconServer, host = '127.0.0.1', port = 9465): Promise<OpsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, {allow: 'GET, HEAD'}).end()
    } else if (path === '/healthz') {
      res.writeHead(200, {'content-type': 'text/plain'}).end('ok\n')
    } else if (path === '/readyz') {
      const ready = beacon.state === 'listening'
      res.writeHead(ready ? 200 : 503, {'content-type': 'text/plain'}).end(`${beacon.state}\n`)
    } else if (path === '/metrics') {
      res.writeHead(200, {'content-type': 'text/plain; version=0.0.4'}).end(beacon.metrics.render())
    } else {
      res.writeHead(404).end()
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve())
  })
  const a = server.address() as AddressInfo
  const h = a.family === 'IPv6' ? `[${a.address}]` : a.address
  return {
    url: `http://${h}:${a.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
