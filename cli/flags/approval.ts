import {Flags} from '@oclif/core'
import {CloudtaserError} from '../../lib/errors.js'

/**
 * How a command that rolls production workloads (target protect, target unprotect) is approved:
 * per workload on a terminal, all at once for CI, or not at all (dry run). One must be chosen.
 */
export const approvalFlags = {
  interactive: Flags.boolean({char: 'i', description: 'Ask per workload: approve, skip or quit (needs a terminal).', exclusive: ['yes']}),
  yes: Flags.boolean({char: 'y', description: 'Approve every workload (for scripts and CI).', exclusive: ['interactive']}),
  'dry-run': Flags.boolean({description: 'Show what would change; change nothing, write nothing.'}),
}

const HINT = 'Use --interactive on a terminal, --yes in scripts and CI, or --dry-run to see the changes first.'

/** Refuses (exit 2) unless the flags say how to approve, and --interactive has a terminal to ask on. */
export function checkApproval(f: {interactive?: boolean; yes?: boolean; 'dry-run'?: boolean}, isTTY = process.stdin.isTTY === true): void {
  if (!f['dry-run'] && !f.yes && !f.interactive) {
    throw new CloudtaserError('USAGE', 'choose --interactive (ask per workload), --yes (approve all) or --dry-run', {hint: HINT})
  }
  if (f.interactive && !isTTY) throw new CloudtaserError('USAGE', '--interactive needs a terminal; use --yes in scripts and CI', {hint: HINT})
}
