/**
 * Heuristics for text that looks like a secret value. A plan must never carry one, and a
 * reviewer pasting a value "just for reference" is the likeliest way it would happen.
 * Specific shapes (PEM, JWT, well-known token prefixes) are checked in every string; the
 * broad long-base64 rule only in free-text fields, where no structured value is expected.
 */
const SPECIFIC: Array<[RegExp, string]> = [
  [/-----BEGIN [A-Z0-9 ]*-----/, 'a PEM block'],
  [/\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/, 'a JSON Web Token'],
  [/\b(hvs|hvb|hvr|s|b|r)\.[A-Za-z0-9_-]{24,}/, 'an OpenBao/Vault token'],
  [/\b(ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}|\bgithub_pat_[A-Za-z0-9_]{30,}/, 'a GitHub token'],
  [/\b(AKIA|ASIA)[0-9A-Z]{16}\b/, 'an AWS access key id'],
  [/\bxox[abprs]-[A-Za-z0-9-]{10,}/, 'a Slack token'],
  [/\bsk-[A-Za-z0-9_-]{20,}/, 'an API secret key'],
]

/** All specific shapes in one pass: almost every string matches none, so test once, then find which. */
const ANY_SPECIFIC = new RegExp(SPECIFIC.map(([re]) => `(?:${re.source})`).join('|'))

const LONG_RUN = /[A-Za-z0-9+/=_-]{40,}/g

const hasMixedAlphabet = (s: string): boolean => /[A-Z]/.test(s) && /[a-z]/.test(s) && /[0-9]/.test(s)

export interface SecretShape {
  what: string
  /** The matching text, so the error can point at its exact line inside a multi-line string. */
  match: string
}

/** Returns what the text looks like, or undefined when it looks harmless. */
export function secretShape(text: string, freeText: boolean): SecretShape | undefined {
  if (!freeText && (text.length < 20 || !ANY_SPECIFIC.test(text))) return undefined
  for (const [re, what] of SPECIFIC) {
    const m = re.exec(text)
    if (m) return {what, match: m[0]}
  }
  if (!freeText) return undefined
  for (const run of text.match(LONG_RUN) ?? []) {
    if (hasMixedAlphabet(run) || /^[0-9a-f]{40,}$/i.test(run)) return {what: 'a long base64 or hex string', match: run}
  }
  return undefined
}

/** Keys that hold values in Kubernetes Secrets; their presence means someone pasted a Secret. */
export const FORBIDDEN_KEYS = new Set(['value', 'data', 'stringData'])
