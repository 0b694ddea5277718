// Keeps this replica's copy of the webhook TLS material in step with the store: load (creating
// or repairing it with check-and-set when needed) before serving, follow new versions by polling,
// and, on the leader only, write the next rotation step.
import {createHash, X509Certificate} from 'node:crypto'
import {fromFields, freshMaterial, nextStep, problems, toFields, type Material, type RotationSettings, type Step} from './material.js'
import {notAfterOf} from './pki.js'
import type {LogFields, Logger} from './log.js'
import type {MaterialStore} from './store.js'


export interface Loaded {
  material: Material
  version: string
}

const fingerprint = (pem: string) => createHash('sha256').update(new X509Certificate(pem).raw).digest('hex')

/** What status pages and logs may show about the material: fingerprints and dates, no key. */
export function describe(l: Loaded) {
  const serving = new X509Certificate(l.material.serving.certPem)
  return {
    version: l.version,
    servingSha256: fingerprint(l.material.serving.certPem),
    servingNotAfter: new Date(notAfterOf(serving)).toISOString(),
    signerSha256: fingerprint(l.material.signer.certPem),
    bundleSha256: [l.material.signer.certPem, ...(l.material.pending ? [l.material.pending.certPem] : []), ...(l.material.retired ? [l.material.retired] : [])].map(fingerprint),
  }
}

export class MaterialController {
  current: Loaded | undefined

  constructor(
    private readonly store: MaterialStore,
    private readonly rotation: RotationSettings,
    private readonly apply: (l: Loaded) => void,
    private readonly log: Logger,
  ) {}

  private use(l: Loaded, event: string, extra: LogFields = {}): void {
    this.current = l
    this.apply(l)
    const d = describe(l)
    this.log('info', event, {where: this.store.where, version: l.version, serving_sha256: d.servingSha256, serving_not_after: d.servingNotAfter, ca_count: d.bundleSha256.length, ...extra})
  }

  /**
   * Before serving: read the material; create it when there is none (cas on "nothing there", so of
   * replicas starting together one writes and the others read), or repair it when it cannot be
   * served now (expired, broken). Losing a race means reading again. Throws what the store throws.
   */
  async load(): Promise<Loaded> {
    for (let attempt = 0; ; attempt++) {
      const seen = await this.store.read()
      let step: Step | undefined
      if (!seen.fields) step = {kind: 'created', reason: 'no material yet', material: freshMaterial(this.rotation)}
      else {
        let m: Material | undefined
        try {
          m = fromFields(seen.fields, this.store.where)
        } catch (err) {
          step = {kind: 'replaced', reason: (err as Error).message, material: freshMaterial(this.rotation)}
        }
        if (m) {
          const p = problems(m, this.rotation.hosts)
          if (!p.ca && !p.serving) {
            this.use({material: m, version: seen.version!}, 'material_loaded')
            return this.current!
          }
          step = nextStep(m, this.rotation)
        }
      }
      const written = await this.store.write(toFields(step!.material), seen.version)
      if (written) {
        if (step!.kind !== 'created') this.log('warn', 'material_repaired', {where: this.store.where, step: step!.kind, reason: step!.reason})
        this.use({material: step!.material, version: written}, step!.kind === 'created' ? 'material_created' : 'material_loaded', {step: step!.kind})
        return this.current!
      }
      // Another replica wrote first: read what it wrote.
      if (attempt >= 5) throw new Error(`${this.store.where} kept changing while loading it`)
    }
  }

  /**
   * Every replica, every poll: a new version in the store replaces the served material. Material
   * deleted from the store is written back from memory by the leader (`restore`).
   */
  async poll(restore = false): Promise<boolean> {
    const version = await this.store.version()
    if (!this.current || version === this.current.version) return false
    const seen = version === undefined ? {version: undefined} : await this.store.read()
    // Keep serving what works; the leader writes it back over a deleted or unusable version.
    const writeBack = async (why: string) => {
      this.log('error', 'material_unusable', {where: this.store.where, version: seen.version, error: why})
      if (!restore || !this.current) return false
      const written = await this.store.write(toFields(this.current.material), seen.version)
      if (written) this.use({material: this.current.material, version: written}, 'material_restored', {note: 'wrote back the material in memory'})
      return false
    }
    if (!seen.fields || !seen.version) return writeBack('the store has no material (deleted?)')
    let m: Material
    try {
      m = fromFields(seen.fields, this.store.where)
    } catch (err) {
      return writeBack((err as Error).message)
    }
    const p = problems(m, this.rotation.hosts)
    if (p.ca || p.serving) return writeBack(p.ca ?? p.serving!)
    this.use({material: m, version: seen.version}, 'material_reloaded')
    return true
  }

  /** Leader only: write the next rotation step, if one is due. `live`: the caBundle the apiserver has now. */
  async rotate(live: string | undefined, now = Date.now()): Promise<Step | undefined> {
    if (!this.current) return undefined
    const step = nextStep(this.current.material, this.rotation, now, live)
    if (!step) return undefined
    const written = await this.store.write(toFields(step.material), this.current.version)
    if (!written) {
      this.log('warn', 'material_conflict', {where: this.store.where, step: step.kind, note: 'another writer changed it first; reading it on the next poll'})
      return undefined
    }
    this.use({material: step.material, version: written}, 'material_rotated', {step: step.kind, reason: step.reason})
    return step
  }
}
