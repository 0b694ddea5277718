// Builds the real C agent once and gives each test a private socket. On this
// kind of host the kernel refuses LSM programs, so the agent runs degraded;
// where it can enforce, the tests expect enforce instead.
import {spawnSync} from 'node:child_process'
import {chmodSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import type {Test} from 'tap'

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
export const agentBinary = path.join(repoRoot, 'runtime/ebpf/build/cloudtaser-ebpf-agent')

export function buildAgent(): void {
  const r = spawnSync('make', ['-s', '-C', path.join(repoRoot, 'runtime/ebpf'), 'agent'], {encoding: 'utf8'})
  if (r.status !== 0) throw new Error(`make agent failed:\n${r.stdout}${r.stderr}`)
}

export function tempSocket(t: Test): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'ct-ebpf-'))
  chmodSync(dir, 0o755) // so a non-root test process reaches the socket, as a non-root wrapper does
  t.teardown(() => rmSync(dir, {recursive: true, force: true}))
  return path.join(dir, 'agent.sock')
}
