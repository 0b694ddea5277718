// The built CLI as users and scripts run it: a child process of bin/run.js with a controlled
// environment, so a developer's own OpenBao or cluster settings can never leak into a test.
import {spawn} from 'node:child_process'
import {fileURLToPath} from 'node:url'

export interface CliRun {
  code: number | null
  stdout: string
  stderr: string
}

const BIN = fileURLToPath(new URL('../../bin/run.js', import.meta.url))
const AMBIENT = ['BAO_ADDR', 'BAO_TOKEN', 'VAULT_ADDR', 'VAULT_TOKEN', 'BAO_NAMESPACE', 'VAULT_NAMESPACE', 'BAO_CACERT', 'VAULT_CACERT', 'KUBECONFIG']

/** process.env without the OpenBao and Kubernetes settings a developer may have exported, plus `env`. */
export const isolatedEnv = (env: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => {
  const base: NodeJS.ProcessEnv = {...process.env}
  for (const k of AMBIENT) delete base[k]
  return {...base, ...env}
}

export const runCli = (args: string[], options: {env?: NodeJS.ProcessEnv; cwd?: string} = {}): Promise<CliRun> =>
  new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], {env: isolatedEnv(options.env), cwd: options.cwd})
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d: Buffer) => (stdout += d))
    p.stderr.on('data', (d: Buffer) => (stderr += d))
    p.on('close', (code) => resolve({code, stdout, stderr}))
  })
