import {Flags} from '@oclif/core'
import {BaseCommand} from '../../base-command.js'
import {buildAndLoad, defaultStateDir, imagesDir, readState, requireRunning, type LoadResult} from '../../../lib/lab/index.js'

export default class LabImages extends BaseCommand<typeof LabImages> {
  static override summary = "Build the lab's OCI images without Docker (reproducibly) and push them to the running lab's registry."
  static override description =
    'Images: pause, base (busybox), redis (the demo app). Each is an OCI layout in .cache/images/<name>; the same inputs give the same digest. With a lab running (`lab up`), each is pushed to its registry, where Pods pull it as cloudtaser.lab/<name>:<tag> or $CLOUDTASER_LAB_REGISTRY/<name>:<tag>.'
  static override examples = ['<%= config.bin %> lab images', '<%= config.bin %> lab images --no-push --json']
  static override flags = {
    'state-dir': Flags.string({description: 'Where the lab keeps its state.', default: defaultStateDir(), defaultHelp: async () => '$CLOUDTASER_LAB_DIR or $XDG_STATE_HOME/cloudtaser/lab'}),
    push: Flags.boolean({description: "Push to the running lab's registry (--no-push: only build).", default: true, allowNo: true}),
  }

  async run(): Promise<LoadResult> {
    // Without a running lab there is nowhere to push: build only, and say so.
    const state = this.flags.push && readState(this.flags['state-dir']) ? requireRunning(this.flags['state-dir']) : undefined
    const registry = state?.node?.registry
    const result = await buildAndLoad({registry})
    for (const i of result.images) {
      this.log(`${i.ref.padEnd(24)} ${i.digest}  ${(i.size / 1e6).toFixed(2).padStart(6)} MB  ${String(i.buildMs).padStart(5)} ms${i.pushed ? `  -> ${i.pushed}` : ''}`)
    }
    for (const s of result.skipped) this.log(`${s.name.padEnd(24)} skipped: ${s.reason}`)
    this.log(registry ? `Pushed to ${registry} (Pods: cloudtaser.lab/<name>:<tag>).` : `Built in ${imagesDir()} (no lab with a node running: nothing pushed).`)
    return result
  }
}
