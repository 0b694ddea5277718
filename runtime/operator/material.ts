// The webhook's TLS material, shared by every replica through a store (OpenBao KV, or the
// fallbacks), and the pure rules that renew it: when the serving certificate is renewed, and how
// a new CA is rolled in with an overlap window (caBundle = old + new) so that no replica ever
// serves a certificate the apiserver does not trust.
import {X509Certificate} from 'node:crypto'
import {CloudtaserError, ExitCode} from '../../lib/errors.js'
import {coversHosts, issueServing, keyMatches, newCa, notAfterOf, notBeforeOf, BACKDATE_MS, type KeyPair} from './pki.js'

export interface Material {
  /** The CA that signs serving certificates. */
  signer: KeyPair
  /** A new CA already in caBundle but not signing yet (CA rotation, first half). */
  pending?: KeyPair
  /** The previous CA's certificate, still in caBundle (CA rotation, second half). */
  retired?: string
  serving: KeyPair
  /** When the last CA rotation step was written (ms): each step waits the overlap after it. */
  stepAt: number
}

export interface RotationSettings {
  /** Names and addresses the serving certificate must cover. */
  hosts: string[]
  caTtlMs: number
  certTtlMs: number
  /** How long each CA rotation step waits before the next (caBundle propagation, replica polling). */
  overlapMs: number
}

export const FORMAT = 'cloudtaser.io/webhook-tls/v1'

/** The CA certificates the apiserver must trust: the signer first. */
export const bundleOf = (m: Material): string[] => [m.signer.certPem, ...(m.pending ? [m.pending.certPem] : []), ...(m.retired ? [m.retired] : [])]
export const bundlePem = (m: Material): string => bundleOf(m).join('')

export function freshMaterial(s: RotationSettings, now = Date.now()): Material {
  const signer = newCa(s.caTtlMs, new Date(now))
  return {signer, serving: issueServing(signer, s.hosts, s.certTtlMs, new Date(now)), stepAt: now}
}

/**
 * When a certificate is due: with a third of its intended life left (cert-manager's default).
 * The backdating of notBefore is not part of the intended life.
 */
export function renewAt(c: X509Certificate): number {
  const issued = notBeforeOf(c) + BACKDATE_MS
  return notAfterOf(c) - (notAfterOf(c) - issued) / 3
}

export type StepKind = 'created' | 'replaced' | 'serving-renewed' | 'ca-introduced' | 'ca-switched' | 'ca-retired'

export interface Step {
  kind: StepKind
  reason: string
  material: Material
}

/** What is wrong with the material now: a broken CA means new material, a broken serving certificate a new one. */
export function problems(m: Material, hosts: string[], now = Date.now()): {ca?: string; serving?: string} {
  let signer: X509Certificate
  try {
    signer = new X509Certificate(m.signer.certPem)
  } catch {
    return {ca: 'the CA certificate does not parse'}
  }
  if (!signer.ca) return {ca: 'the CA certificate is not a CA'}
  if (!keyMatches(m.signer)) return {ca: 'the CA key does not match its certificate'}
  if (notAfterOf(signer) <= now) return {ca: `the CA expired at ${signer.validTo}`}
  let serving: X509Certificate
  try {
    serving = new X509Certificate(m.serving.certPem)
  } catch {
    return {serving: 'the serving certificate does not parse'}
  }
  if (!serving.checkIssued(signer) || !serving.verify(signer.publicKey)) return {serving: 'the serving certificate is not signed by the current CA'}
  if (!keyMatches(m.serving)) return {serving: 'the serving key does not match its certificate'}
  if (notAfterOf(serving) <= now) return {serving: `the serving certificate expired at ${serving.validTo}`}
  if (!coversHosts(serving, hosts)) return {serving: `the serving certificate does not cover ${hosts.join(', ')}`}
  return {}
}

/**
 * Pure (but for fresh keys): the next material, or undefined when nothing is due. `live` is the
 * caBundle the webhook configuration holds now: a new CA starts signing only once it is there.
 */
export function nextStep(m: Material, s: RotationSettings, now = Date.now(), live?: string): Step | undefined {
  const p = problems(m, s.hosts, now)
  if (p.ca) return {kind: 'replaced', reason: p.ca, material: freshMaterial(s, now)}
  const reissue = (reason: string, base: Material = m): Step => ({
    kind: 'serving-renewed',
    reason,
    material: {...base, serving: issueServing(base.signer, s.hosts, s.certTtlMs, new Date(now))},
  })
  if (p.serving) return reissue(p.serving)
  const waited = now - m.stepAt >= s.overlapMs
  if (m.retired && !m.pending && waited) {
    return {kind: 'ca-retired', reason: 'the overlap after the switch has passed', material: {signer: m.signer, serving: m.serving, stepAt: now}}
  }
  if (m.pending && waited && live !== undefined && live.includes(m.pending.certPem.trim())) {
    const switched: Material = {signer: m.pending, retired: m.signer.certPem, serving: m.serving, stepAt: now}
    return {...reissue('the new CA has been in caBundle for the overlap', switched), kind: 'ca-switched'}
  }
  const signer = new X509Certificate(m.signer.certPem)
  if (!m.pending && !m.retired && now >= renewAt(signer)) {
    return {kind: 'ca-introduced', reason: `the CA expires at ${signer.validTo}`, material: {...m, pending: newCa(s.caTtlMs, new Date(now)), stepAt: now}}
  }
  const serving = new X509Certificate(m.serving.certPem)
  if (now >= renewAt(serving)) return reissue(`the serving certificate expires at ${serving.validTo}`)
  return undefined
}

/** KV fields (and Secret keys): PEM text, named as cert-manager and kubectl name them. */
export function toFields(m: Material): Record<string, string> {
  return {
    format: FORMAT,
    'ca.crt': m.signer.certPem,
    'ca.key': m.signer.keyPem,
    ...(m.pending ? {'ca-next.crt': m.pending.certPem, 'ca-next.key': m.pending.keyPem} : {}),
    ...(m.retired ? {'ca-previous.crt': m.retired} : {}),
    'tls.crt': m.serving.certPem,
    'tls.key': m.serving.keyPem,
    'step-at': new Date(m.stepAt).toISOString(),
  }
}

export const materialInvalid = (where: string, what: string) =>
  new CloudtaserError('OPERATOR_MATERIAL_INVALID', `the webhook TLS material at ${where} is unusable: ${what}`, {
    exitCode: ExitCode.CONFIG,
    hint: 'The operator replaces unusable material with a new CA on its own; if this repeats, something else writes that path.',
  })

export function fromFields(f: Record<string, string | undefined>, where: string): Material {
  if (f.format !== FORMAT) throw materialInvalid(where, `format is ${JSON.stringify(f.format)}, expected ${FORMAT}`)
  const need = (k: string) => {
    const v = f[k]
    if (!v) throw materialInvalid(where, `field ${k} is missing`)
    return v
  }
  const stepAt = Date.parse(need('step-at'))
  if (Number.isNaN(stepAt)) throw materialInvalid(where, 'step-at is not a time')
  return {
    signer: {certPem: need('ca.crt'), keyPem: need('ca.key')},
    ...(f['ca-next.crt'] ? {pending: {certPem: need('ca-next.crt'), keyPem: need('ca-next.key')}} : {}),
    ...(f['ca-previous.crt'] ? {retired: f['ca-previous.crt']} : {}),
    serving: {certPem: need('tls.crt'), keyPem: need('tls.key')},
    stepAt,
  }
}
