// The init room, bridge side: one request, one answer. Only public material crosses: the broker
// sends its fingerprint and a CSR for a key it made in memory; the bridge checks them, creates
// clusters/<fp>/initialized with check-and-set 0 (OpenBao makes "once" atomic), and only then
// returns the certificate it signed with the cluster CA (docs/register.md, "Trust bootstrap").
import {createHash} from 'node:crypto'
import net from 'node:net'
import type tls from 'node:tls'
import {initHashHex} from '../../lib/openbao/registration.js'
import type {BaoClient} from '../../lib/openbao/client.js'
import {checkCsr} from '../../lib/x509/csr.js'
import {issueLeaf} from '../../lib/x509/issue.js'
import type {Logger} from '../beacon/log.js'
import {readLine, writeLine, type BootstrapAnswer, type BootstrapRequest, type Refusal, type RefusalCode} from '../tunnel/wire.js'
import {markInitialized, readCaKey, readCluster} from './registrations.js'

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
  try {
    const req = await readLine<BootstrapRequest>(sock)
    answer = await decide(req, ctx)
  } catch (err) {
    answer = refusal('BRIDGE_BAD_REQUEST', `unreadable bootstrap request: ${(err as Error).message}`)
  }
  if (answer.ok) ctx.logger('info', 'bootstrap_issued', {cluster: ctx.fingerprint, serial: answer.serial})
  else ctx.logger('warn', 'bootstrap_refused', {cluster: ctx.fingerprint, code: answer.code, reason: answer.message})
  await writeLine(sock, answer)
  sock.end()
  return answer.ok ? 'issued' : answer.code
}

const refusal = (code: RefusalCode, message: string): Refusal => ({ok: false, code, message})

async function decide(req: BootstrapRequest, ctx: InitContext): Promise<BootstrapAnswer> {
  if (req?.v !== 1 || req.type !== 'bootstrap' || typeof req.fingerprint !== 'string' || typeof req.csr !== 'string') return refusal('BRIDGE_BAD_REQUEST', 'not a version 1 bootstrap request')
  // The room is SHA-256("cloudtaser-init:" + fp): a fingerprint that does not hash to it was sent to the wrong room.
  if (initHashHex(req.fingerprint) !== initHashHex(ctx.fingerprint)) return refusal('BRIDGE_WRONG_ROOM', `fingerprint ${req.fingerprint} does not belong to this init room`)
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
  // Read fresh: a deregister since the bridge's last look must win.
  const state = await readCluster(ctx.client, ctx.fingerprint)
  if (!state) return refusal('BRIDGE_NOT_REGISTERED', `cluster ${ctx.fingerprint} is not registered with this OpenBao (or was deregistered)`)
  if (state.initialized) return refusal('BRIDGE_ALREADY_INITIALIZED', `cluster ${ctx.fingerprint} was initialized at ${state.initialized.initializedAt}; a certificate is issued once (run \`cloudtaser source register --rotate-ca\` to start over)`)
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
  const marked = await markInitialized(ctx.client, state.layout, {
    initializedAt: new Date().toISOString(),
    serial: leaf.serial,
    spkiSha256: createHash('sha256').update(csr.spki).digest('hex'),
    notAfter: leaf.notAfter,
    caCertSha256: state.record.caCertSha256,
  })
  // Lost the race (another bridge replica, or a concurrent replay): the certificate never leaves.
  if (!marked) return refusal('BRIDGE_ALREADY_INITIALIZED', `cluster ${ctx.fingerprint} was initialized meanwhile by another bootstrap`)
  return {ok: true, certificate: leaf.certPem, caCertificate: state.record.caCertificate, serial: leaf.serial}
}
