// Commands and their flags are a public interface: this snapshot changes only on purpose
// (`npx tap --snapshot test/cli/command-snapshot.test.ts` and review the diff).
import t from 'tap'
import {Config} from '@oclif/core'

const config = await Config.load({root: process.cwd()})
const commands = config.commands
  .map((c) => ({
    id: c.id,
    flags: Object.entries(c.flags)
      .map(([name, f]) => ({name, char: f.char, type: f.type, multiple: 'multiple' in f ? f.multiple : undefined, aliases: f.aliases}))
      .sort((a, b) => a.name.localeCompare(b.name)),
    args: Object.keys(c.args),
  }))
  .sort((a, b) => a.id.localeCompare(b.id))

t.matchSnapshot(commands, 'commands and flags')
// In-Pod entry points (hidden) hand stdout to the application they start: a JSON
// envelope around the app's output would corrupt it, so they alone go without --json.
const appOwnsStdout = new Set(['wrapper:run'])
for (const c of config.commands) {
  if (!appOwnsStdout.has(c.id)) t.ok(Object.keys(c.flags).includes('json'), `${c.id} supports --json`)
  else t.ok(c.hidden, `${c.id} is hidden: it runs inside a Pod, not at a terminal`)
  t.ok((c.examples ?? []).length > 0, `${c.id} has examples in --help`)
}
