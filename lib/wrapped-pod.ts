import type {V1Pod} from '@kubernetes/client-node'

/**
 * What a Pod the webhook wrapped looks like: every wrapped container runs WRAPPER_PATH, copied into
 * the WRAPPER_VOLUME emptyDir by the INIT_CONTAINER, first of the Pod's init containers. Written by
 * the webhook (runtime/operator/mutation.ts, which must not wrap twice), read by `target status`
 * and `target migrate finalize` (which deletes a Secret only once the Pods run under the wrapper).
 */
export const WRAPPER_DIR = '/cloudtaser'
export const WRAPPER_PATH = `${WRAPPER_DIR}/wrapper`
export const WRAPPER_VOLUME = 'cloudtaser-bin'
export const INIT_CONTAINER = 'cloudtaser-init'

export const isMutated = (pod: Pick<V1Pod, 'spec'>): boolean =>
  (pod.spec?.volumes ?? []).some((v) => v.name === WRAPPER_VOLUME) || (pod.spec?.initContainers ?? []).some((c) => c.name === INIT_CONTAINER)
