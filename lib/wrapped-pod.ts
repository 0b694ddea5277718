import type {V1Pod} from '@kubernetes/client-node'

/**
 * How a Pod the webhook wrapped is recognised: by the volume it adds for the wrapper and its init
 * container. Shared by the webhook (runtime/operator/mutation.ts, which must not wrap twice) and
 * `target migrate finalize` (which deletes a Secret only once the Pods run under the wrapper).
 */
export const WRAPPER_VOLUME = 'cloudtaser-bin'
export const INIT_CONTAINER = 'cloudtaser-init'

export const isMutated = (pod: Pick<V1Pod, 'spec'>): boolean =>
  (pod.spec?.volumes ?? []).some((v) => v.name === WRAPPER_VOLUME) || (pod.spec?.initContainers ?? []).some((c) => c.name === INIT_CONTAINER)
