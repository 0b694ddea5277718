// The init room, bridge side: one request, one answer. Only public material crosses: the broker
// sends its fingerprint and a CSR for a key it made in memory; the bridge checks them, creates
// clusters/<fp>/initialized with check-and-set 0 (OpenBao makes "once" atomic), and only then
// returns the certificate it signed with the cluster CA (docs/register.md, "Trust bootstrap").
// A restarted broker (its key lived in memory) renews here: its request then carries a token of
// its own ServiceAccount, checked against the keys and subject recorded from its last tunnel, and
// the new serial replaces the old one in the same record (check-and-set), revoking the old key.
import {createHash} from 'node:crypto'
import net from 'node:net'
import type tls from 'node:tls'
import {initHashHex} from '../../lib/openbao/registration.js'
import type {BaoClient} from '../../lib/openbao/client.js'
import {checkCsr} from '../../lib/x509/csr.js'
import {issueLeaf} from '../../lib/x509/issue.js'
import type {Logger} from '../beacon/log.js'
import {brokerAudience, readLine, writeLine, type BootstrapAnswer, type BootstrapRequest, type Refusal, type RefusalCode} from '../tunnel/wire.js'
import {JwksCache} from './jwt.js'
import {readCaKey, readCluster, writeInitialized, type InitializedRecord} from './registrations.js'

export const BROKER_CERT_DAYS = 90
const MAX_NAMES = 8
const CLUSTER_NAME = /^(localhost|([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+(svc|svc\.cluster\.local))$/

export interface InitContext {
  /** The cluster whose init room this is. */
  fingerprint: string
  client: BaoClient
  logger: Logger
}

export async function serveBootstrap(sock: tls.TLSSocket, ctx: InitContext): Promise<'issued' | RefusalCode> {
  let answer: BootstrapAnswer
  let renewal = false
  try {
    const req = await readLine<BootstrapRequest>(sock)
    ;({answer, renewal} = await decide(req, ctx))
  } catch (err) {
    answer = refusal('BRIDGE_BAD_REQUEST', `unreadable bootstrap request: ${(err as Error).message}`)
  }
  if (answer.ok) ctx.logger('info', 'bootstrap_issued', {cluster: ctx.fingerprint, serial: answer.serial, renewal})
  else ctx.logger('warn', 'bootstrap_refused', {cluster: ctx.fingerprint, code: answer.code, reason: answer.message})
  await writeLine(sock, answer)
  sock.end()
  return answer.ok ? 'issued' : answer.code
}

const refusal = (code: RefusalCode, message: string): Refusal => ({ok: false, code, message})

async function decide(req: BootstrapRequest, ctx: InitContext): Promise<{answer: BootstrapAnswer; renewal: boolean}> {
  const renewal = {done: false}
  return {answer: await check(req, ctx, renewal), renewal: renewal.done}
}

async function check(req: BootstrapRequest, ctx: InitContext, renewal: {done: boolean}): Promise<BootstrapAnswer> {
  const parsed = parseBootstrap(req, ctx.fingerprint)
  if (!parsed.ok) return parsed
  const {dnsNames, ipAddresses, csr} = parsed
  // Read fresh: a deregister since the bridge's last look must win.
  const state = await readCluster(ctx.client, ctx.fingerprint)
  if (!state) return refusal('BRIDGE_NOT_REGISTERED', `cluster ${ctx.fingerprint} is not registered with this OpenBao (or was deregistered)`)
  if (state.initialized && req.proof === undefined) return refusal('BRIDGE_ALREADY_INITIALIZED', `cluster ${ctx.fingerprint} was initialized at ${state.initialized.initializedAt}; a certificate is issued once, then renewed only with the broker's ServiceAccount proof (run \`cloudtaser source register --rotate-ca\` to start over)`)
  if (state.initialized) {
    const why = proofProblem(String(req.proof), state.initialized, ctx.fingerprint)
    if (why) return refusal('BRIDGE_PROOF_REFUSED', `renewal refused: ${why}`)
  }
  const key = await readCaKey(ctx.client, state.layout, state.record.caCertSha256)
  const leaf = issueLeaf({
    ca: {certPem: state.record.caCertificate, key},
    spki: csr.spki,
    commonName: `cloudtaser-broker-${state.layout.id}`,
    usage: ['clientAuth', 'serverAuth'],
    dnsNames,
    ipAddresses,
    days: BROKER_CERT_DAYS,
  })
  const now = new Date().toISOString()
  const rec: InitializedRecord = {
    ...state.initialized,
    initializedAt: state.initialized?.initializedAt ?? now,
    serial: leaf.serial,
    spkiSha256: createHash('sha256').update(csr.spki).digest('hex'),
    notAfter: leaf.notAfter,
    caCertSha256: state.record.caCertSha256,
    ...(state.initialized ? {renewedAt: now} : {}),
  }
  // Lost the race (another bridge replica, a concurrent replay or renewal): the certificate never leaves.
  if (!(await writeInitialized(ctx.client, state.layout, rec, state.initializedVersion))) return refusal('BRIDGE_ALREADY_INITIALIZED', `cluster ${ctx.fingerprint} was initialized or renewed meanwhile by another bootstrap`)
  renewal.done = Boolean(state.initialized)
  return {ok: true, certificate: leaf.certPem, caCertificate: state.record.caCertificate, serial: leaf.serial}
}

/**
 * Pure: a request line's shape, names and CSR, before anything is read from OpenBao. The line is
 * whatever the peer sent (JSON of any shape); the answer is a refusal or what to sign.
 */
export function parseBootstrap(req: BootstrapRequest, fingerprint: string): Refusal | {ok: true; dnsNames: string[]; ipAddresses: string[]; csr: ReturnType<typeof checkCsr>} {
  if (req?.v !== 1 || req.type !== 'bootstrap' || typeof req.fingerprint !== 'string' || typeof req.csr !== 'string') return refusal('BRIDGE_BAD_REQUEST', 'not a version 1 bootstrap request')
  // The room is SHA-256("cloudtaser-init:" + fp): a fingerprint that does not hash to it was sent to the wrong room.
  if (initHashHex(req.fingerprint) !== initHashHex(fingerprint)) return refusal('BRIDGE_WRONG_ROOM', `fingerprint ${req.fingerprint} does not belong to this init room`)
  const dnsNames = Array.isArray(req.dnsNames) ? req.dnsNames : []
  const ipAddresses = Array.isArray(req.ipAddresses) ? req.ipAddresses : []
  if (dnsNames.length + ipAddresses.length > MAX_NAMES) return refusal('BRIDGE_BAD_REQUEST', `at most ${MAX_NAMES} names and addresses`)
  const badName = dnsNames.find((d) => typeof d !== 'string' || !CLUSTER_NAME.test(d))
  if (badName !== undefined) return refusal('BRIDGE_BAD_REQUEST', `name ${JSON.stringify(badName)} is not an in-cluster Service name (*.svc, *.svc.cluster.local or localhost)`)
  const badIp = ipAddresses.find((a) => typeof a !== 'string' || net.isIP(a) === 0)
  if (badIp !== undefined) return refusal('BRIDGE_BAD_REQUEST', `${JSON.stringify(badIp)} is not an IP address`)
  let csr
  try {
    csr = checkCsr(req.csr)
  } catch (err) {
    return refusal('BRIDGE_BAD_CSR', `certificate request refused: ${(err as Error).message}`)
  }
  return {ok: true, dnsNames, ipAddresses, csr}
}

/** Why a renewal proof does not name this cluster's broker, or undefined when it does. */
function proofProblem(proof: string, init: InitializedRecord, fingerprint: string): string | undefined {
  if (!init.jwks || !init.brokerSubject) return 'no tunnel has recorded the cluster\'s keys and the broker\'s ServiceAccount since the bootstrap'
  const keys = new JwksCache()
  keys.set(init.jwks)
  const v = keys.verify(proof, undefined, brokerAudience(fingerprint))
  if (!v.ok) return `ServiceAccount proof: ${v.reason}${v.staleKeys ? ' (the cluster\'s signing keys changed since the last tunnel)' : ''}`
  if (v.subject !== init.brokerSubject) return `the proof is for ${v.subject}, not the broker's ServiceAccount ${init.brokerSubject}`
  return undefined
}
