// Child process for the transport tests: one request through a transport (http1, undici, or
// native: the wrapper's addon from CLOUDTASER_NATIVE_ADDON, whose exchange blocks, so the server
// must live in another process). Prints {status, bytes} or {code, message}.
// Without arguments (tap runs every file here) it does nothing.
import {readFileSync} from 'node:fs'
import {Http1Transport} from '../../../lib/openbao/http1-transport.js'
import type {Transport} from '../../../lib/openbao/transport.js'
import {UndiciTransport} from '../../../lib/openbao/undici-transport.js'
import {loadNative} from '../../../runtime/wrapper/native/index.js'
import {NativeTransport} from '../../../runtime/wrapper/native-transport.js'

const [kind, url, caFile, method = 'GET', body] = process.argv.slice(2)
if (url) {
  const ca = caFile ? readFileSync(caFile, 'utf8') : undefined
  const transport = (): Transport => {
    if (kind === 'undici') return new UndiciTransport({ca, timeoutMs: 5000})
    if (kind !== 'native') return new Http1Transport({ca})
    const {native, error} = loadNative(process.env)
    if (!native?.httpExchange) throw new Error(`no addon: ${error}`)
    return new NativeTransport(native as Required<typeof native>, ca)
  }
  const tr = transport()
  const timeoutMs = Number(process.env.PROBE_TIMEOUT_MS ?? 5000)
  tr.request({method, url: new URL(url), headers: {'x-probe': '1'}, body, timeoutMs})
    .then(
      (r) => ({status: r.status, bytes: r.body.length, head: r.body.subarray(0, 64).toString('latin1')}),
      (err: {code?: string; message?: string}) => ({code: err.code, message: err.message}),
    )
    .then(async (out) => {
      process.stdout.write(JSON.stringify(out))
      await tr.close()
    })
}
