import type {KubeHttp} from '../kube/http.js'
import {kubeError} from '../kube/errors.js'
import type {BrokerService} from './migrator-access.js'
import type {Transport, TransportRequest, TransportResponse} from './transport.js'

/**
 * OpenBao requests to the broker through the apiserver's service proxy
 * (`/api/v1/namespaces/NS/services/https:NAME:PORT/proxy/v1/...`), with the kubeconfig's own
 * credentials and TLS: whoever can run kubectl against the cluster reaches the broker, from
 * anywhere, with no port-forward and no address of the broker's own. The apiserver dials the
 * broker's Pod and does not check the broker's certificate; it sees the OpenBao token and the
 * values in passing, as it already holds the values as Secrets (docs/migrate.md names it).
 */
export class ServiceProxyTransport implements Transport {
  private readonly prefix: string

  constructor(
    private readonly http: KubeHttp,
    service: BrokerService,
  ) {
    this.prefix = `/api/v1/namespaces/${encodeURIComponent(service.namespace)}/services/https:${encodeURIComponent(service.name)}:${service.port}/proxy`
  }

  async request(r: TransportRequest): Promise<TransportResponse> {
    const path = `${this.prefix}${r.url.pathname}${r.url.search}`
    const {'content-type': contentType, ...headers} = r.headers
    const body = typeof r.body === 'string' ? Buffer.from(r.body) : r.body
    const res = await this.http.send(r.method, path, {body, headers, contentType})
    // The apiserver's own answers (no RBAC on services/proxy, no broker Pod) are Kubernetes Status
    // objects, never OpenBao's. A refusal is the cluster's (KUBE_FORBIDDEN, exit 4, the verb
    // named); "unavailable" (the broker Pod restarting) is retried like OpenBao's own 503, with
    // the apiserver's reason in OpenBao's error shape.
    const status = res.status >= 400 ? kubeStatusMessage(res.bytes) : undefined
    if (status === undefined) return {status: res.status, body: res.bytes}
    if (res.status < 500) throw kubeError({statusCode: res.status, body: res.bytes.toString('utf8'), path, server: this.http.server})
    return {status: res.status, body: Buffer.from(JSON.stringify({errors: [`Kubernetes API: ${status}`]}))}
  }

  /** The Kubernetes client is the caller's (it also reads the Secrets). */
  async close(): Promise<void> {}
}

/** The message of a Kubernetes Status body (error bodies only: they carry no value), else undefined. */
function kubeStatusMessage(bytes: Buffer): string | undefined {
  try {
    const b = JSON.parse(bytes.toString('utf8')) as {kind?: unknown; apiVersion?: unknown; message?: unknown}
    return b.kind === 'Status' && b.apiVersion === 'v1' ? String(b.message ?? '') : undefined
  } catch {
    return undefined
  }
}
