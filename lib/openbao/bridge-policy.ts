// The bridge's own OpenBao policy: what it reads and writes beside OpenBao (docs/bridge.md).
// OpenBao-side configuration, so it lives with the other policies; the bridge and the lab use it.
import {PARENT_NAMESPACE} from './registration.js'
import {renderPolicy} from './policy.js'

/**
 * The bridge's OpenBao policy, written in the namespace that holds `cloudtaser/` (the token's
 * namespace): list the cluster namespaces, and in each, what the per-cluster bridge policy
 * grants. One token serves every registered cluster; it cannot read any tenant secret, write a
 * registration or plant a CA. (Wrapper requests it relays carry the wrapper's own token.)
 */
export function bridgeFleetPolicy(): string {
  const kv = `${PARENT_NAMESPACE}/+/cloudtaser/data`
  return renderPolicy('component=bridge fleet', ['The cloudtaser bridge: finds registered clusters and bootstraps them. See docs/bridge.md.'], [
    {path: `${PARENT_NAMESPACE}/sys/namespaces`, capabilities: ['list']},
    {path: `${PARENT_NAMESPACE}/sys/namespaces/*`, capabilities: ['read', 'list']},
    {path: `${kv}/clusters/+/registered`, capabilities: ['read']},
    {path: `${kv}/system/+/ca/*`, capabilities: ['read']},
    // update: renewals and the JWKS record, always check-and-set on the version read.
    {path: `${kv}/clusters/+/initialized`, capabilities: ['create', 'read', 'update']},
  ])
}
