import {BaseCommand} from '../../../base-command.js'
import {approvalFlags, checkApproval} from '../../../flags/approval.js'
import {migrateConnections, migrateFlags, secretFilterFlag} from '../../../flags/migrate.js'
import {currentActor} from '../../../../lib/actor.js'
import {ExitCode} from '../../../../lib/errors.js'
import {finalize, type FinalizeResult} from '../../../../lib/migrate/finalize.js'
import {askDelete, renderFinalize} from '../../../../lib/migrate/render.js'
import {loadPlan} from '../../../../lib/plan/io.js'

export default class TargetMigrateFinalize extends BaseCommand<typeof TargetMigrateFinalize> {
  static override summary = 'Delete the Kubernetes Secrets OpenBao now replaces, where nothing uses them any more.'
  static override description = `A Secret is deleted only when OpenBao holds its values (the recorded KV version, compared by digest with the Secret as it is now), every plan workload that read it is migrated with no reference left on it, their Pods run under the wrapper and are Ready, and nothing else in its namespace references it (any Pod, workload, ServiceAccount imagePullSecrets or secrets, Ingress TLS). Otherwise it is kept and the reasons are listed: who still uses it, what is not done yet. Image pull secrets and ServiceAccount tokens are always kept. Each deletion is recorded in the plan; \`target migrate rollback\` recreates them. Exit 1 when a Secret is kept for a reason that is not permanent.`
  static override examples = [
    '<%= config.bin %> target migrate finalize --plan plan.yaml --dry-run',
    '<%= config.bin %> target migrate finalize --plan plan.yaml --yes',
    '<%= config.bin %> target migrate finalize --plan plan.yaml --interactive --secret payments/api-db',
  ]
  static override flags = {...migrateFlags, ...approvalFlags, secret: secretFilterFlag}

  async run(): Promise<FinalizeResult> {
    const f = this.flags
    checkApproval(f)
    const loaded = await loadPlan(f.plan)
    const {kc, bao} = await migrateConnections(f, loaded.plan)
    try {
      const result = await finalize({
        kc, loaded, bao, actor: currentActor(), dryRun: f['dry-run'], secrets: f.secret, concurrency: f.concurrency,
        decide: f.interactive ? askDelete : undefined,
        onOutcome: (o) => renderFinalize(o).forEach((l) => this.log(l)),
      })
      this.log(`${result.dryRun ? 'Dry run, nothing deleted: ' : ''}${Object.entries(result.counts).map(([k, n]) => `${k} ${n}`).join(', ') || 'no Secrets'}`)
      const plan = loaded.plan.tenants.flatMap((t) => (t.secrets ?? []).map((s) => ({key: `${t.namespace}/${s.name}`, keep: s.keep})))
      const blocked = result.processed.filter((o) => (o.outcome === 'kept' && !plan.find((p) => p.key === `${o.namespace}/${o.name}`)?.keep) || o.outcome === 'failed')
      if (blocked.length > 0) this.setExitCode(ExitCode.CHECK_FAILED)
      return result
    } finally {
      await bao.close()
    }
  }
}
