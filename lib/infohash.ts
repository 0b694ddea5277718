import {createHash} from 'node:crypto'

// The beacon's rendezvous hashes (docs/beacon-protocol.md): the beacon (runtime/beacon) pairs
// bridge and broker by them, and `source register` records them (lib/openbao).

/** Rendezvous hash for the one-time bootstrap: SHA-256("cloudtaser-init:" + cluster fingerprint). */
export const initInfoHash = (fingerprint: string): Buffer => createHash('sha256').update(`cloudtaser-init:${fingerprint}`).digest()
/** Rendezvous hash for operation: SHA-256 of the tenant CA certificate's DER bytes. */
export const operationalInfoHash = (caDer: Buffer): Buffer => createHash('sha256').update(caDer).digest()
