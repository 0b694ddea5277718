import type {V1Container, V1PodTemplateSpec} from '@kubernetes/client-node'
import {envMapNameProblem} from '../annotations.js'
import {expand} from '../expansion.js'

/**
 * Pure: which Secret references of a container the wrapper can take over, and which must stay on
 * the Kubernetes Secret (and why). Discover writes the reasons into the plan for reviewers
 * (`references[].remains`); protect applies the same rules to the live object, so a plan and a
 * protect run never disagree about what is left behind.
 */
export const PROJECTED_REMAINS = 'a projected volume: the wrapper writes one Secret per directory, so a volume that merges sources stays'

/**
 * Why a Secret volume stays on the Kubernetes Secret, or undefined when the wrapper can write its
 * files instead (a memory-backed directory at the same mount path, see docs/wrapper.md).
 */
export function volumeRemains(template: V1PodTemplateSpec, volume: string, type: 'volume' | 'projected'): string | undefined {
  if (type === 'projected') return PROJECTED_REMAINS
  for (const c of [...(template.spec?.initContainers ?? []), ...(template.spec?.containers ?? [])]) {
    const m = (c.volumeMounts ?? []).find((v) => v.name === volume && (v.subPath || v.subPathExpr))
    if (m) return `mounted with subPath in ${c.name}: a single file inside another directory, which the wrapper's directory would hide`
  }
  return undefined
}

/** The names Kubernetes' `$(NAME)` expansion would look up in `text`, in order. */
export function expansionRefs(text: string): string[] {
  const names: string[] = []
  expand(text, (name) => {
    names.push(name)
    return undefined
  })
  return names
}

/** Whether `name` may come from one of the container's secret envFrom entries (keys unknown without reading the Secret). */
const fromSecretEnvFrom = (container: V1Container, name: string): boolean =>
  (container.envFrom ?? []).some((f) => f.secretRef?.name && name.startsWith(f.prefix ?? ''))

/**
 * Variables whose value another variable composes with `$(NAME)`: the kubelet expands env values
 * with the variables defined before them, so once protect moves NAME to the wrapper the composed
 * value would keep the literal `$(NAME)`. The wrapper expands command and args only; these
 * references stay. name -> the variable that composes it.
 */
export function composedNames(container: V1Container): Map<string, string> {
  const out = new Map<string, string>()
  const secretEnv = new Set<string>()
  for (const e of container.env ?? []) {
    if (e.valueFrom?.secretKeyRef) secretEnv.add(e.name)
    for (const ref of expansionRefs(e.value ?? '')) {
      if (secretEnv.has(ref) || fromSecretEnvFrom(container, ref)) out.set(ref, e.name)
    }
  }
  return out
}

/** Why this container's `env` entry reading a Secret stays on the Secret, or undefined. */
export function envRemains(container: V1Container, name: string, composed = composedNames(container)): string | undefined {
  const problem = envMapNameProblem(name)
  if (problem) return problem
  const by = composed.get(name)
  return by === undefined ? undefined : `${by} composes it with $(${name}); the wrapper expands command and args, not other variables' values`
}

/** Why this container's `envFrom` of a Secret stays on the Secret, or undefined. */
export function envFromRemains(container: V1Container, prefix: string | undefined, composed = composedNames(container)): string | undefined {
  if (prefix) {
    const problem = envMapNameProblem(prefix)
    if (problem) return problem.replace('the name', 'the prefix')
  }
  const plainEnv = new Set((container.env ?? []).filter((e) => !e.valueFrom?.secretKeyRef).map((e) => e.name))
  for (const [name, by] of composed) {
    if (name.startsWith(prefix ?? '') && !plainEnv.has(name)) return `${by} composes $(${name}), which this envFrom may define; the wrapper expands command and args, not other variables' values`
  }
  return undefined
}

/**
 * Secret-backed names this container's command and args read through `$(NAME)`: the wrapper
 * expands them once protected (the webhook hands it the command unexpanded).
 */
export function expandedSecretNames(container: V1Container): string[] {
  const secretEnv = new Set((container.env ?? []).filter((e) => e.valueFrom?.secretKeyRef).map((e) => e.name))
  const plainEnv = new Set((container.env ?? []).filter((e) => !e.valueFrom?.secretKeyRef).map((e) => e.name))
  const names = new Set<string>()
  for (const text of [...(container.command ?? []), ...(container.args ?? [])]) {
    for (const ref of expansionRefs(text)) {
      if (secretEnv.has(ref) || (!plainEnv.has(ref) && fromSecretEnvFrom(container, ref))) names.add(ref)
    }
  }
  return [...names]
}
