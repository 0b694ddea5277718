import {Flags} from '@oclif/core'
import {KubeConfig} from '@kubernetes/client-node'
import {CloudtaserError, ExitCode} from '../../lib/errors.js'

/** Cluster selection as kubectl does it: --kubeconfig, else KUBECONFIG, else ~/.kube/config; --context. */
export const kubeFlags = {
  kubeconfig: Flags.string({description: 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).', helpGroup: 'CLUSTER'}),
  context: Flags.string({description: 'The kubeconfig context to use (default: the current context).', helpGroup: 'CLUSTER'}),
}

export function kubeConfigFromFlags(flags: {kubeconfig?: string; context?: string}): KubeConfig {
  const kc = new KubeConfig()
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
