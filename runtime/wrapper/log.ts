type Fields = Record<string, string | number | boolean | undefined>

/** JSON lines on stderr (stdout belongs to the app); names, paths, counts and versions only, never a value. */
export const log = (level: 'info' | 'warn' | 'error', event: string, fields: Fields = {}) =>
  process.stderr.write(`${JSON.stringify({ts: new Date().toISOString(), level, component: 'wrapper', event, ...fields})}\n`)
