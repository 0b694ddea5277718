import {readFileSync} from 'node:fs'
import {Flags} from '@oclif/core'
import {CloudtaserError, ExitCode} from '../../lib/errors.js'
import type {BeaconDialOptions} from '../../runtime/beacon/client.js'

/** How the bridge and the broker dial the beacon. */
export const beaconDialFlags = {
  beacon: Flags.string({description: 'Beacon address host:port (every A/AAAA record is dialled in parallel).', helpGroup: 'BEACON'}),
  'beacon-ca': Flags.string({description: 'PEM file of the CA of the beacon\'s certificate (default: Node\'s CAs).', exclusive: ['beacon-plain'], helpGroup: 'BEACON'}),
  'beacon-plain': Flags.boolean({description: 'Plain TCP to the beacon (tests, or a trusted network); the tunnel inside is mTLS either way.', default: false, helpGroup: 'BEACON'}),
}

export function beaconDialFromFlags(f: {beacon?: string; 'beacon-ca'?: string; 'beacon-plain': boolean}): Pick<BeaconDialOptions, 'address' | 'tls'> | undefined {
  if (f.beacon === undefined) return undefined
  if (f['beacon-plain']) return {address: f.beacon, tls: false}
  if (!f['beacon-ca']) return {address: f.beacon, tls: {}}
  try {
    return {address: f.beacon, tls: {ca: readFileSync(f['beacon-ca'], 'utf8')}}
  } catch (err) {
    throw new CloudtaserError('BEACON_CERT_UNREADABLE', `cannot read --beacon-ca ${f['beacon-ca']}: ${(err as Error).message}`, {exitCode: ExitCode.CONFIG})
  }
}
