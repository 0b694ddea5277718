// The flags of `cloudtaser s3-proxy run`, declared once: bin/run.js parses them here without
// loading oclif (the proxy is a long-lived sidecar and oclif costs ~40 MB of RSS), and the oclif
// command builds its --help and flag list from the same table (cli/commands/s3-proxy/run.ts).
import {parseArgs} from 'node:util'
import {CloudtaserError, ExitCode} from '../../lib/errors.js'
import {SA_TOKEN_FILE} from '../../lib/openbao/session.js'

interface Flag {
  type: 'string' | 'integer' | 'boolean'
  description: string
  default?: string | number | boolean
  options?: readonly string[]
  required?: boolean
}

export const S3_PROXY_FLAGS = {
  host: {type: 'string', description: "Listen address (keep it on loopback: the Pod's containers share it).", default: '127.0.0.1'},
  port: {type: 'integer', description: 'S3 port (0: any free port).', default: 8190},
  'ops-host': {type: 'string', description: 'Listen address for /healthz, /readyz and /metrics.', default: '0.0.0.0'},
  'ops-port': {type: 'integer', description: 'Port for /healthz, /readyz and /metrics.', default: 8191},
  upstream: {type: 'string', description: 'The S3 endpoint objects are stored at (path-style requests).', required: true},
  region: {type: 'string', description: 'Region the upstream requests are signed for.', default: 'us-east-1'},
  'upstream-payload': {
    type: 'string',
    description: 'How upstream bodies are signed: auto is UNSIGNED-PAYLOAD over HTTPS (TLS and the segment tags already authenticate every byte) and, over HTTP, what the client chose: chunk signatures when it signed its body, UNSIGNED-PAYLOAD when it did not.',
    options: ['auto', 'streaming', 'unsigned'],
    default: 'auto',
  },
  'transit-mount': {type: 'string', description: 'Mount of the Transit secrets engine.', default: 'transit'},
  'transit-key': {type: 'string', description: 'Transit key that wraps the data keys.', required: true},
  'bao-auth': {type: 'string', description: 'How the proxy logs in to OpenBao.', options: ['kubernetes', 'token'], default: 'kubernetes'},
  'bao-role': {type: 'string', description: 'kubernetes auth role.'},
  'bao-auth-mount': {type: 'string', description: 'kubernetes auth mount.', default: 'kubernetes'},
  'sa-token-file': {type: 'string', description: 'ServiceAccount token for kubernetes auth.', default: SA_TOKEN_FILE},
  'require-encrypted': {type: 'boolean', description: 'Refuse to read objects stored without encryption (written before the proxy).', default: false},
  'no-pad': {type: 'boolean', description: 'Do not pad the last segment to 64 KiB (stores less, reveals plaintext sizes exactly).', default: false},
} as const satisfies Record<string, Flag>

type Flags = typeof S3_PROXY_FLAGS
type ValueOf<F> = F extends {type: 'integer'} ? number : F extends {type: 'boolean'} ? boolean : string
export type S3ProxyFlags = {[K in keyof Flags]: Flags[K] extends {default: unknown} | {required: true} ? ValueOf<Flags[K]> : ValueOf<Flags[K]> | undefined} & {json: boolean}

const usage = (message: string) => new CloudtaserError('USAGE', message, {exitCode: ExitCode.USAGE})

/** argv after `s3-proxy run`; --json as every command has it. Unknown flags and bad values are USAGE errors. */
export function parseS3ProxyArgs(argv: string[]): S3ProxyFlags {
  const table = S3_PROXY_FLAGS as Record<string, Flag>
  const spec = Object.fromEntries(Object.entries(table).map(([name, f]) => [name, {type: f.type === 'boolean' ? ('boolean' as const) : ('string' as const)}]))
  let values: Record<string, string | boolean | undefined>
  try {
    ;({values} = parseArgs({args: argv, options: {...spec, json: {type: 'boolean'}}, strict: true, allowPositionals: false}))
  } catch (err) {
    throw usage((err as Error).message)
  }
  const out: Record<string, unknown> = {json: values.json === true}
  for (const [name, f] of Object.entries(table)) {
    const v = values[name]
    if (v === undefined) {
      if (f.required) throw usage(`Missing required flag --${name}`)
      out[name] = f.default
    } else if (f.type === 'integer') {
      const n = Number(v)
      if (!/^\d+$/.test(String(v)) || n > 65535) throw usage(`--${name} must be an integer from 0 to 65535`)
      out[name] = n
    } else {
      if (f.options && !f.options.includes(String(v))) throw usage(`--${name} must be one of ${f.options.join(', ')}`)
      out[name] = v
    }
  }
  return out as S3ProxyFlags
}
