import {Args} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {loadPlan} from '../../../lib/plan/io.js'
import {progressLine, summarizePlan, type PlanSummary} from '../../../lib/plan/summary.js'

export default class PlanShow extends BaseCommand<typeof PlanShow> {
  static override summary = 'Show a plan per tenant: workloads, secrets, statuses and progress.'
  static override examples = ['<%= config.bin %> plan show plan.yaml', '<%= config.bin %> plan show plan.yaml --json']
  static override args = {file: Args.string({description: 'The plan file.', required: true})}

  async run(): Promise<PlanSummary> {
    const {plan} = await loadPlan(this.args.file)
    const s = summarizePlan(plan)
    const cluster = s.cluster ? ` (cluster ${s.cluster.name}, ${s.cluster.fingerprint})` : ''
    this.log(`Plan ${s.name}${cluster}`)
    if (s.createdAt) this.log(`Created ${s.createdAt}${s.createdBy ? ` by ${s.createdBy}` : ''}`)
    this.log(`Progress: ${progressLine(s.counts)}`)
    for (const t of s.tenants) {
      this.log('')
      this.log(`Tenant ${t.name} (namespace ${t.namespace}) policy=${t.policy ?? '-'} role=${t.role ?? '-'}: ${progressLine(t.counts)}`)
      for (const w of t.workloads) {
        const why = w.reason ? ` - ${w.reason}` : ''
        this.log(`  ${w.state.padEnd(8)} ${w.kind}/${w.name}${w.vanished ? ' (vanished)' : ''}${why}`)
        for (const path of w.secrets) this.log(`           ${path}`)
        if (w.s3Proxy) this.log(`           S3 proxy to ${w.s3Proxy.upstream}, Transit key ${w.s3Proxy.transitKey}`)
      }
    }
    if (s.notProtectable) this.log(`\n${s.notProtectable} workload(s) read Secrets but cannot be protected (see notProtectable).`)
    if (s.vaultInjected) this.log(`${s.vaultInjected} workload(s) use the Vault injector (see vaultInjected).`)
    return s
  }
}
