// Beacon wire protocol v1 (docs/beacon-protocol.md is the normative text; keep them in step).
// Client -> beacon: one hello. Beacon -> client: 2-byte status frames, then relayed bytes after PAIRED.

export const MAGIC = Buffer.from('CTBN', 'latin1')
export const PROTOCOL_VERSION = 1
export const HELLO_FIXED_BYTES = 40
export const INFO_HASH_BYTES = 32
export const STATUS_BYTES = 2

export const Role = {bridge: 1, broker: 2} as const
export type RoleName = keyof typeof Role
export const roleName = (r: number): RoleName | undefined => (r === 1 ? 'bridge' : r === 2 ? 'broker' : undefined)
export const oppositeRole = (r: RoleName): RoleName => (r === 'bridge' ? 'broker' : 'bridge')

/** Status codes the beacon sends. < 0x10: progress; >= 0x10: rejection, the beacon closes after it. */
export const Status = {
  PAIRED: 0x00,
  WAITING: 0x01,
  BAD_MAGIC: 0x10,
  UNSUPPORTED_VERSION: 0x11,
  BAD_ROLE: 0x12,
  HELLO_TOO_LARGE: 0x13,
  HELLO_TIMEOUT: 0x14,
  EARLY_DATA: 0x15,
  MATCH_TIMEOUT: 0x20,
  HASH_FULL: 0x21,
  BEACON_FULL: 0x22,
  SHUTTING_DOWN: 0x23,
} as const
export type StatusName = keyof typeof Status
const statusNames = new Map<number, StatusName>(Object.entries(Status).map(([k, v]) => [v, k as StatusName]))
export const statusName = (code: number): StatusName | `UNKNOWN_0x${string}` =>
  statusNames.get(code) ?? `UNKNOWN_0x${code.toString(16).padStart(2, '0')}`

export interface Hello {
  version: number
  role: RoleName
  infoHash: Buffer
  /** Reserved extension bytes; v1 beacons skip them. */
  extensions: Buffer
}

export function encodeHello(role: RoleName, infoHash: Buffer, extensions: Buffer = Buffer.alloc(0), version = PROTOCOL_VERSION): Buffer {
  if (infoHash.length !== INFO_HASH_BYTES) throw new RangeError(`info hash must be ${INFO_HASH_BYTES} bytes, got ${infoHash.length}`)
  if (extensions.length > 0xffff) throw new RangeError('extensions longer than 65535 bytes')
  const b = Buffer.allocUnsafe(HELLO_FIXED_BYTES + extensions.length)
  MAGIC.copy(b, 0)
  b[4] = version
  b[5] = Role[role]
  b.writeUInt16BE(extensions.length, 6)
  infoHash.copy(b, 8)
  extensions.copy(b, HELLO_FIXED_BYTES)
  return b
}

export const encodeStatus = (code: number, version = PROTOCOL_VERSION): Buffer => Buffer.from([version, code])

export type HelloResult =
  | {kind: 'more'}
  | {kind: 'hello'; hello: Hello; rest: Buffer}
  | {kind: 'error'; status: number; reason: string}

/**
 * Decides as early as the bytes allow: a wrong first byte is rejected before the other 39 arrive,
 * so garbage costs the beacon one chunk, never a timeout's worth of memory.
 */
export function parseHello(buf: Buffer, maxHelloBytes: number): HelloResult {
  const n = Math.min(buf.length, MAGIC.length)
  for (let i = 0; i < n; i++) if (buf[i] !== MAGIC[i]) return {kind: 'error', status: Status.BAD_MAGIC, reason: 'bad_magic'}
  if (buf.length < 5) return {kind: 'more'}
  const version = buf[4]!
  if (version !== PROTOCOL_VERSION) return {kind: 'error', status: Status.UNSUPPORTED_VERSION, reason: 'unsupported_version'}
  if (buf.length < 6) return {kind: 'more'}
  const role = roleName(buf[5]!)
  if (!role) return {kind: 'error', status: Status.BAD_ROLE, reason: 'bad_role'}
  if (buf.length < 8) return {kind: 'more'}
  const total = HELLO_FIXED_BYTES + buf.readUInt16BE(6)
  if (total > maxHelloBytes) return {kind: 'error', status: Status.HELLO_TOO_LARGE, reason: 'hello_too_large'}
  if (buf.length < total) return {kind: 'more'}
  return {
    kind: 'hello',
    hello: {
      version,
      role,
      infoHash: Buffer.from(buf.subarray(8, 8 + INFO_HASH_BYTES)),
      extensions: Buffer.from(buf.subarray(HELLO_FIXED_BYTES, total)),
    },
    rest: buf.subarray(total),
  }
}

