// An ops port (plain HTTP, for the kubelet and Prometheus), for the operator and the bridge:
// /healthz (the process answers), /readyz (200, or 503 and the reason), /status (JSON, never a
// key), /metrics. Separate from the serving port: readiness must answer before any certificate
// exists, and a probe must not need the serving CA.
import {createServer, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'

const send = (res: ServerResponse, status: number, body: unknown) =>
  res.writeHead(status, {'content-type': typeof body === 'string' ? 'text/plain' : 'application/json'}).end(typeof body === 'string' ? body : JSON.stringify(body))

export interface OpsView {
  ready(): {ok: true} | {ok: false; reason: string}
  status(): Record<string, unknown>
  metrics(): string
}

export async function startOpsServer(host: string, port: number, view: OpsView): Promise<{server: Server; port: number}> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]
    if (req.method !== 'GET') return send(res, 405, 'method not allowed')
    if (path === '/healthz') return send(res, 200, 'ok')
    if (path === '/readyz') {
      const r = view.ready()
      return r.ok ? send(res, 200, 'ok') : send(res, 503, `not ready: ${r.reason}`)
    }
    if (path === '/status') return send(res, 200, view.status())
    if (path === '/metrics') {
      res.setHeader('content-type', 'text/plain; version=0.0.4')
      return res.end(view.metrics())
    }
    send(res, 404, 'not found')
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve())
  })
  return {server, port: (server.address() as AddressInfo).port}
}

/** Prometheus text format: `name{labels} value` lines with HELP and TYPE. */
export function renderMetrics(families: {name: string; help: string; type: 'counter' | 'gauge'; samples: {labels?: Record<string, string>; value: number}[]}[]): string {
  const lines: string[] = []
  for (const f of families) {
    lines.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`)
    for (const s of f.samples) {
      const labels = s.labels ? `{${Object.entries(s.labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}` : ''
      lines.push(`${f.name}${labels} ${s.value}`)
    }
  }
  return `${lines.join('\n')}\n`
}
