import {createRequire} from 'node:module'
import {Flags} from '@oclif/core'
import type {KubeConfig} from '@kubernetes/client-node'
import {CloudtaserError, ExitCode} from '../../lib/errors.js'
import {resolveKubeconfig, type KubeTarget} from '../../lib/kube/kubeconfig.js'

/** Cluster selection as kubectl does it: --kubeconfig, else KUBECONFIG, else ~/.kube/config; --context. */
export const kubeFlags = {
  kubeconfig: Flags.string({description: 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).', helpGroup: 'CLUSTER'}),
  context: Flags.string({description: 'The kubeconfig context to use (default: the current context).', helpGroup: 'CLUSTER'}),
}

/** Which namespaces a read-only command looks at; the default is every non-system namespace. */
export const namespaceFlags = {
  namespace: Flags.string({char: 'n', description: 'Only this namespace (repeatable).', multiple: true, exclusive: ['all-namespaces']}),
  'all-namespaces': Flags.boolean({char: 'A', description: 'Every namespace except the system ones (the default).'}),
  'exclude-namespace': Flags.string({description: 'Skip this namespace (repeatable).', multiple: true}),
}

/**
 * For commands that only list and get: resolves the kubeconfig without loading client-node
 * (0.5 s and 80 MB at start-up); see lib/kube/kubeconfig.ts.
 */
export function kubeTargetFromFlags(flags: {kubeconfig?: string; context?: string}): KubeTarget {
  return resolveKubeconfig(flags)
}

// Loaded on first use so that commands which never need the typed client do not pay for it.
const requireHere = createRequire(import.meta.url)

export function kubeConfigFromFlags(flags: {kubeconfig?: string; context?: string}): KubeConfig {
  const {KubeConfig: Config} = requireHere('@kubernetes/client-node') as typeof import('@kubernetes/client-node')
  const kc = new Config()
  try {
    if (flags.kubeconfig) kc.loadFromFile(flags.kubeconfig)
    else kc.loadFromDefault()
  } catch (err) {
    throw new CloudtaserError('KUBECONFIG_INVALID', `cannot load kubeconfig ${flags.kubeconfig ?? process.env.KUBECONFIG ?? '~/.kube/config'}: ${(err as Error).message}`, {
      exitCode: ExitCode.CONFIG,
      hint: 'Pass --kubeconfig or set KUBECONFIG, as for kubectl.',
      cause: err,
    })
  }
  if (flags.context) {
    if (!kc.getContextObject(flags.context)) {
      throw new CloudtaserError('KUBE_CONTEXT_UNKNOWN', `no context "${flags.context}" in the kubeconfig (have: ${kc.getContexts().map((c) => c.name).join(', ') || 'none'})`, {
        exitCode: ExitCode.CONFIG,
      })
    }
    kc.setCurrentContext(flags.context)
  }
  if (!kc.getCurrentCluster()) {
    throw new CloudtaserError('KUBE_NO_CLUSTER', 'the kubeconfig has no current cluster', {exitCode: ExitCode.CONFIG, hint: 'Select one with --context.'})
  }
  return kc
}
