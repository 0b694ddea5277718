// Where the replicas keep the webhook's TLS material: OpenBao KV v2 (the default in a cluster),
// a Kubernetes Secret (the loudly warned fallback), or this process's memory (one replica).
// Every store is check-and-set, so replicas racing to create or rotate end with one version.

export type BackendKind = 'openbao' | 'kubernetes' | 'memory'

export interface Observed {
  /** Opaque version (KV version, Secret resourceVersion); undefined when nothing was ever written. */
  version: string | undefined
  /** Undefined when absent (or deleted). */
  fields?: Record<string, string>
}

export interface MaterialStore {
  readonly kind: BackendKind
  /** For logs and errors: where the material lives. */
  readonly where: string
  /** The current version, cheaply (no secret bytes when the backend allows it). */
  version(): Promise<string | undefined>
  read(): Promise<Observed>
  /** Writes if the current version is still `expected` (undefined: nothing yet): the new version, or undefined when another writer won. */
  write(fields: Record<string, string>, expected: string | undefined): Promise<string | undefined>
  close(): Promise<void>
}

/** `--secret-backend memory`: one process, nothing shared, a new CA on every start. */
export class MemoryStore implements MaterialStore {
  readonly kind = 'memory' as const
  readonly where = 'process memory'
  private current: Observed = {version: undefined}

  async version() {
    return this.current.version
  }

  async read() {
    return this.current
  }

  async write(fields: Record<string, string>, expected: string | undefined) {
    if (expected !== this.current.version) return undefined
    this.current = {version: String(Number(this.current.version ?? 0) + 1), fields}
    return this.current.version
  }

  async close() {}
}

