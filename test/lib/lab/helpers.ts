// Shared by the lab's tests: polling, and OpenBao's HTTP API through fetch.
import {setTimeout as sleep} from 'node:timers/promises'

/** Retries `fn` until it returns a value other than undefined or the time is up. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v !== undefined) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`)
    await sleep(200)
  }
}

export interface BaoResponse {
  status: number
  body: any // eslint-disable-line @typescript-eslint/no-explicit-any -- OpenBao's JSON varies by endpoint
}

/** One call to OpenBao's HTTP API (`bao` CLI equivalents noted at the call sites). */
export async function bao(addr: string, token: string | undefined, method: string, path: string, body?: unknown): Promise<BaoResponse> {
  const headers: Record<string, string> = {}
  if (token) headers['X-Vault-Token'] = token
  const r = await fetch(`${addr}/v1/${path}`, {method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(10_000)})
  const text = await r.text()
  return {status: r.status, body: text ? JSON.parse(text) : undefined}
}
