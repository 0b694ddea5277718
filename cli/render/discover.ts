import type {DiscoverJobResult} from '../../lib/discover/job.js'

const MAX_LISTED = 20

/**
 * The human summary of a discover run, one line each. They go to stdout when the plan went to a
 * file, else to stderr so that stdout is the plan alone (`discover > plan.yaml` works).
 */
export function discoverSummary(result: DiscoverJobResult): string[] {
  const lines = [
    `Cluster ${result.cluster.name} (fingerprint ${result.cluster.fingerprint})`,
    `${result.workloads} workload(s) in ${result.tenants} namespace(s) read ${result.secrets} Secret(s)${result.file ? `; plan written to ${result.file}` : ''}`,
  ]
  const u = result.update
  if (u) lines.push(`update: ${u.added.length} added, ${u.vanished.length} vanished, ${u.secretsAdded.length} new secret reference(s)`)
  for (const g of (u?.secretsGone ?? []).slice(0, MAX_LISTED)) lines.push(`note: ${g} is no longer referenced by the workload; kept in the plan for review`)
  // A large cluster can reference thousands of missing Secrets: show a few, count the rest.
  for (const m of result.missingSecrets.slice(0, MAX_LISTED)) lines.push(`warning: Secret ${m} is referenced but does not exist (flagged missing: true in the plan)`)
  if (result.missingSecrets.length > MAX_LISTED) lines.push(`warning: ... and ${result.missingSecrets.length - MAX_LISTED} more missing Secret(s) (see missing: true in the plan, or --json)`)
  if (result.alreadyInjected.length) lines.push(`${result.alreadyInjected.length} workload(s) already injected, skipped`)
  if (result.vaultInjected) lines.push(`${result.vaultInjected} workload(s) use the Vault injector: listed under vaultInjected for a decision`)
  if (result.notProtectable) lines.push(`${result.notProtectable} bare Pod(s)/Job(s) read Secrets but cannot be protected: listed under notProtectable`)
  if (result.imagePullSecretsIgnored) lines.push(`${result.imagePullSecretsIgnored} imagePullSecrets reference(s) left alone: they are for the kubelet, not the application`)
  if (result.filesNotDeliverable) lines.push(`${result.filesNotDeliverable} Secret file mount(s) recorded but not deliverable by the wrapper yet (deliverable: false)`)
  return lines
}

/** Progress on a terminal only, redrawn in place; never under --json. */
export const progressWriter = (json: boolean): ((message: string) => void) | undefined =>
  process.stderr.isTTY && !json ? (m) => process.stderr.write(`\r\x1b[K${m}`) : undefined
