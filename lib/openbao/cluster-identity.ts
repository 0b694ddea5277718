import {CloudtaserError, ExitCode} from '../errors.js'

/**
 * Which cluster `source register`/`deregister` act on: the fingerprint (the kube-system
 * namespace UID `target fingerprint` prints), typed in, or read from a reviewed plan's
 * metadata.cluster, the one artifact that crosses an air gap anyway.
 */
export interface ClusterIdentity {
  fingerprint: string
  /** metadata.cluster.name when the fingerprint came from a plan. */
  name?: string
  from: 'flag' | 'plan'
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/**
 * Kubernetes writes UIDs in lower case and the operator hashes the UID exactly as it reads it, so
 * upper case input is folded: otherwise the two sides would compute different init info hashes.
 */
export function parseFingerprint(value: string, what = '--fingerprint'): string {
  const v = value.trim().toLowerCase()
  if (!UUID.test(v)) {
    throw new CloudtaserError('BAD_FINGERPRINT', `${what} "${value}" is not a cluster fingerprint: expected the kube-system namespace UID, a UUID like 0ad50c05-1153-4508-9237-4cb2912e2c23`, {
      exitCode: ExitCode.USAGE,
      hint: 'Run `cloudtaser target fingerprint` against the cluster (or `kubectl get namespace kube-system -o jsonpath={.metadata.uid}`).',
    })
  }
  return v
}

/** The first 8 hex digits: names the cluster's OpenBao namespace, mount and bridge policy. */
export const shortId = (fingerprint: string): string => fingerprint.slice(0, 8)

export async function resolveClusterIdentity(input: {fingerprint?: string; plan?: string}): Promise<ClusterIdentity> {
  const typed = input.fingerprint === undefined ? undefined : parseFingerprint(input.fingerprint)
  if (input.plan === undefined) {
    if (typed === undefined) {
      throw new CloudtaserError('USAGE', 'say which cluster: --fingerprint <kube-system UID> or --plan <plan.yaml>', {
        exitCode: ExitCode.USAGE,
        hint: 'Run `cloudtaser target fingerprint` on the cluster side; it prints the command to run here.',
      })
    }
    return {fingerprint: typed, from: 'flag'}
  }
  // Loaded only for --plan: the YAML and schema modules cost ~100 ms of start-up.
  const {loadPlan} = await import('../plan/io.js')
  const {plan} = await loadPlan(input.plan)
  const cluster = plan.metadata.cluster
  if (!cluster?.fingerprint) {
    throw new CloudtaserError('PLAN_NO_FINGERPRINT', `${input.plan} has no metadata.cluster.fingerprint, so it does not say which cluster to register`, {
      exitCode: ExitCode.USAGE,
      hint: 'Use a plan written by `cloudtaser target discover` (it records the fingerprint), or pass --fingerprint.',
    })
  }
  const fromPlan = parseFingerprint(cluster.fingerprint, `metadata.cluster.fingerprint in ${input.plan}`)
  if (typed !== undefined && typed !== fromPlan) {
    throw new CloudtaserError('FINGERPRINT_MISMATCH', `--fingerprint ${typed} is not the cluster of ${input.plan} (${fromPlan}, "${cluster.name}")`, {
      exitCode: ExitCode.USAGE,
      hint: 'Give one of them, or check that the plan is the one reviewed for this cluster.',
    })
  }
  return {fingerprint: fromPlan, name: cluster.name, from: 'plan'}
}
