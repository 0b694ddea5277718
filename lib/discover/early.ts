import type {DiscoverRequest} from './service.js'
import {DEFAULT_PATH_TEMPLATE} from './transform.js'

type Guessed = 'output' | 'clusterName' | 'pathTemplate' | 'mount' | 'authMount' | 'vaultAddress'
const VALUED: Record<string, Guessed> = {
  '-o': 'output',
  '--output': 'output',
  '--output-plan': 'output',
  '--cluster-name': 'clusterName',
  '--path-template': 'pathTemplate',
  '--mount': 'mount',
  '--auth-mount': 'authMount',
  '--vault-address': 'vaultAddress',
}
const SWITCHES = new Set(['--json', '--no-color'])

/**
 * `target discover` as its command line asks for it, read without oclif (cli/direct-discover.ts
 * then runs it in-process): loading oclif costs more CPU than discover's own work on a small
 * cluster. Only the plain case is read: flags that choose the cluster, the namespaces or
 * --update, anything unknown, repeated or positional, and the answer is undefined (oclif parses
 * that command line, and reports what is wrong with it).
 */
export function guessRequest(argv: string[]): DiscoverRequest | undefined {
  const found: Partial<Record<Guessed, string>> = {}
  let json = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (SWITCHES.has(arg)) {
      json ||= arg === '--json'
      continue
    }
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1
    const name = eq > 0 ? arg.slice(0, eq) : arg
    const field = VALUED[name]
    if (!field || found[field] !== undefined) return undefined
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i]
    if (value === undefined || value === '' || value.startsWith('-')) return undefined
    found[field] = value
  }
  // The flags' defaults, as the command declares them; the plan object is wanted for --json or to print it.
  return {mount: 'secret', pathTemplate: DEFAULT_PATH_TEMPLATE, authMount: 'kubernetes', ...found, planNeeded: json || found.output === undefined}
}
