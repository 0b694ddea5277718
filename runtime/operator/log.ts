export type LogFields = Record<string, string | number | boolean | undefined>
export type Logger = (level: 'info' | 'warn' | 'error', event: string, fields?: LogFields) => void

/** JSON lines on stderr, one per event; never a secret value (fields are names, versions, fingerprints). */
export const jsonLogger =
  (stream: NodeJS.WritableStream = process.stderr): Logger =>
  (level, event, fields) =>
    stream.write(`${JSON.stringify({ts: new Date().toISOString(), level, component: 'operator', event, ...fields})}\n`)
