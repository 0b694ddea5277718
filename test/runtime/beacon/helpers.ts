// Test certificates are made at test time with Debian's openssl in a temp dir; keys never touch Git.
import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {randomBytes} from 'node:crypto'
import {BeaconServer, type BeaconServerOptions} from '../../../runtime/beacon/server.js'
import {encodeHello, STATUS_BYTES, type RoleName} from '../../../runtime/beacon/protocol.js'

export interface Pki {
  dir: string
  beaconCa: string
  beaconCert: string
  beaconKey: string
  /** A second beacon certificate from the same CA, for reload tests. */
  beaconCert2: string
  beaconKey2: string
  tenantCa: string
  bridge: {cert: string; key: string}
  broker: {cert: string; key: string}
  /** Signed by a different CA: must be refused by the inner mTLS. */
  stranger: {cert: string; key: string; ca: string}
  cleanup(): void
}

const ossl = (dir: string, args: string[]): void => void execFileSync('openssl', args, {cwd: dir, stdio: 'pipe'})

function ca(dir: string, name: string): void {
  ossl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`])
}

function leaf(dir: string, caName: string, name: string, san: string, ext: string): void {
  ossl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`])
  writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=${ext}\n`)
  ossl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${caName}.crt`, '-CAkey', `${caName}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`])
}

export function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-pki-'))
  ca(dir, 'beacon-ca')
  leaf(dir, 'beacon-ca', 'beacon', 'DNS:localhost,IP:127.0.0.1,IP:::1', 'serverAuth')
  leaf(dir, 'beacon-ca', 'beacon2', 'DNS:localhost,IP:127.0.0.1,IP:::1', 'serverAuth')
  ca(dir, 'tenant-ca')
  leaf(dir, 'tenant-ca', 'bridge', 'DNS:bridge', 'serverAuth,clientAuth')
  leaf(dir, 'tenant-ca', 'broker', 'DNS:broker', 'serverAuth,clientAuth')
  ca(dir, 'other-ca')
  leaf(dir, 'other-ca', 'stranger', 'DNS:broker', 'serverAuth,clientAuth')
  const r = (f: string): string => readFileSync(join(dir, f), 'utf8')
  return {
    dir,
    beaconCa: r('beacon-ca.crt'),
    beaconCert: join(dir, 'beacon.crt'),
    beaconKey: join(dir, 'beacon.key'),
    beaconCert2: join(dir, 'beacon2.crt'),
    beaconKey2: join(dir, 'beacon2.key'),
    tenantCa: r('tenant-ca.crt'),
    bridge: {cert: r('bridge.crt'), key: r('bridge.key')},
    broker: {cert: r('broker.crt'), key: r('broker.key')},
    stranger: {cert: r('stranger.crt'), key: r('stranger.key'), ca: r('other-ca.crt')},
    cleanup: () => rmSync(dir, {recursive: true, force: true}),
  }
}

export async function startBeacon(opts: BeaconServerOptions = {}): Promise<{beacon: BeaconServer; port: number}> {
  const beacon = new BeaconServer({host: '127.0.0.1', port: 0, plain: !opts.tls, ...opts})
  const {port} = await beacon.listen()
  return {beacon, port}
}

export const hash = (): Buffer => randomBytes(32)

/** A hand-driven plain client: connect, optionally send a hello, collect everything received. */
export class RawClient {
  readonly sock: net.Socket
  received: Buffer = Buffer.alloc(0)
  /** Answer a FIN with a FIN, like a client without half-close; tests of half-close turn it off. */
  autoEnd = true
  readonly closed: Promise<void>
  private waiters: (() => void)[] = []

  constructor(port: number) {
    this.sock = net.connect({host: '127.0.0.1', port, allowHalfOpen: true})
    this.sock.on('error', () => {})
    this.sock.on('end', () => this.autoEnd && this.sock.end())
    this.sock.on('data', (c: Buffer) => {
      this.received = Buffer.concat([this.received, c])
      for (const w of this.waiters.splice(0)) w()
    })
    this.closed = new Promise((r) => this.sock.once('close', () => (r(), this.waiters.splice(0).forEach((w) => w()))))
  }

  connected(): Promise<void> {
    return new Promise((r) => (this.sock.connecting ? this.sock.once('connect', () => r()) : r()))
  }

  hello(role: RoleName, h: Buffer): this {
    this.sock.write(encodeHello(role, h))
    return this
  }

  /** Resolves once at least n bytes arrived (or the socket closed). */
  async bytes(n: number, timeoutMs = 5_000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs
    while (this.received.length < n && !this.sock.destroyed) {
      if (Date.now() > deadline) throw new Error(`timeout waiting for ${n} bytes (have ${this.received.length})`)
      await new Promise<void>((r) => {
        this.waiters.push(r)
        setTimeout(r, 50)
      })
    }
    return this.received
  }

  /** Status codes received so far (2-byte frames, before any relayed payload). */
  async statuses(count: number): Promise<number[]> {
    const b = await this.bytes(count * STATUS_BYTES)
    const out: number[] = []
    for (let i = 0; i + 1 < b.length && out.length < count; i += STATUS_BYTES) out.push(b[i + 1]!)
    return out
  }
}

export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export async function until(cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await delay(10)
  }
}
