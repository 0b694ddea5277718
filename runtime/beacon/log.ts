// One JSON object per line. Callers pass metadata only: the relay never hands payload bytes here.
export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
export type LogFields = Record<string, string | number | boolean | undefined>
export type Logger = (level: LogLevel, event: string, fields?: LogFields) => void

const order: Record<LogLevel, number> = {debug: 10, info: 20, warn: 30, error: 40}

export function jsonLogger(stream: NodeJS.WritableStream = process.stderr, min: LogLevel = 'info', component = 'beacon'): Logger {
  return (level, event, fields) => {
    if (order[level] < order[min]) return
    stream.write(`${JSON.stringify({ts: new Date().toISOString(), level, component, event, ...fields})}\n`)
  }
}

export const silentLogger: Logger = () => {}
