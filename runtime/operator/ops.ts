// The operator's ops port (plain HTTP, for the kubelet and Prometheus): /healthz (the process
// answers), /readyz (200 only while this replica serves admission with loaded TLS material;
// otherwise 503 and the reason), /status (JSON: leader, material version and fingerprints, no
// key), /metrics. Separate from the webhook port: readiness must answer before any certificate
// exists, and a probe must not need the webhook's CA.
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {send} from './admission.js'

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
