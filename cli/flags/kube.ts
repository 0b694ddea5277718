import {Flags} from '@oclif/core'
import {kubeClient, resolveKubeconfig} from '../../lib/kube/kubeconfig.js'

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

/** The cluster the flags select (lib/kube/kubeconfig.ts resolves it as kubectl does), for lib/kube's list calls. */
export const kubeTargetFromFlags = (flags: {kubeconfig?: string; context?: string}) => resolveKubeconfig(flags)

/** The same cluster for the services that use the typed client (protect, connect, the operator). */
export const kubeConfigFromFlags = (flags: {kubeconfig?: string; context?: string}) => kubeClient(resolveKubeconfig(flags))
