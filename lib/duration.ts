import {CloudtaserError, ExitCode} from './errors.js'

/** `90s`, `5m`, `1h30m`, `250ms` or plain seconds, as kubectl's --timeout takes them. */
export function parseDuration(text: string): number {
  const t = text.trim()
  if (/^\d+$/.test(t)) return Number(t) * 1000
  const units: Record<string, number> = {ms: 1, s: 1000, m: 60_000, h: 3_600_000}
  let total = 0
  let rest = t
  for (const m of t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(m[1]) * units[m[2]!]!
    rest = rest.replace(m[0], '')
  }
  if (rest !== '' || total === 0 && t !== '0s') {
    throw new CloudtaserError('USAGE', `"${text}" is not a duration (examples: 90s, 5m, 1h30m)`, {exitCode: ExitCode.USAGE})
  }
  return total
}
