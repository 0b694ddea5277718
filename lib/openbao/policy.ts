/**
 * ACL policies have no metadata in OpenBao, so ownership lives in the policy text: the first line
 * is `# managed-by: cloudtaser; <owner>` (owner `plan=<name>` or `component=operator`). OpenBao
 * stores and returns the text verbatim, comments included.
 */
export const MARKER_PREFIX = '# managed-by: cloudtaser'

export interface PolicyRule {
  path: string
  capabilities: readonly string[]
}

export function renderPolicy(owner: string, comment: readonly string[], rules: readonly PolicyRule[]): string {
  const lines = [`${MARKER_PREFIX}; ${owner}`, ...comment.map((c) => `# ${c}`)]
  for (const r of rules) lines.push(`path ${JSON.stringify(r.path)} {`, `  capabilities = [${r.capabilities.map((c) => JSON.stringify(c)).join(', ')}]`, '}')
  return `${lines.join('\n')}\n`
}

export type Ownership = {managed: false} | {managed: true; owner: string}

export function ownershipOf(text: string): Ownership {
  const firstLine = text.replace(/^\s+/, '').split('\n', 1)[0] ?? ''
  if (!firstLine.startsWith(MARKER_PREFIX)) return {managed: false}
  const owner = firstLine.slice(MARKER_PREFIX.length).replace(/^;\s*/, '').trim()
  return {managed: true, owner}
}

export const samePolicyText = (a: string, b: string): boolean => normalize(a) === normalize(b)
const normalize = (s: string) =>
  s
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n')
    .trim()
