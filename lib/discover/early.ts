import type {KubeconfigSelection} from '../kube/kubeconfig.js'
import type {DiscoverRequest} from './service.js'
import {DEFAULT_PATH_TEMPLATE} from './transform.js'

/**
 * `target discover` as its command line most likely asks for it, read before the CLI has loaded
 * (bin/run.js starts the worker first): the worker starts listing then, ~150 ms before oclif
 * hands it the parsed flags. Only the plain case is guessed: flags that choose the cluster, the
 * namespaces or --update, anything unknown, repeated or positional, and the guess is not made.
 * The guess is used only when the parsed flags ask for the very same listing (sameListing);
 * otherwise it is dropped and discover starts over, so a wrong guess costs time, never a result.
 */
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

const empty = (list: string[] | undefined): boolean => (list ?? []).length === 0

/** Whether a listing made for `guess` is the one `selection` and `request` ask for. */
export function sameListing(guess: DiscoverRequest, selection: KubeconfigSelection, request: DiscoverRequest): boolean {
  return (
    selection.kubeconfig === undefined &&
    selection.context === undefined &&
    empty(request.namespaces) &&
    empty(request.excludeNamespaces) &&
    request.includeSystem === undefined &&
    request.update === undefined &&
    request.clusterName === guess.clusterName &&
    request.mount === guess.mount &&
    request.pathTemplate === guess.pathTemplate &&
    request.output === guess.output &&
    request.planNeeded === guess.planNeeded
  )
}
