// Child process for transport-tls.test.ts: one request through the transport with the given CA (or Node's
// store), in a process of its own so NODE_EXTRA_CA_CERTS applies. Prints {status, bytes} or {code, message}.
// Without arguments (tap runs every file here) it does nothing.
import {readFileSync} from 'node:fs'
import {HttpTransport} from '../../../lib/openbao/http-transport.js'

const [, url, caFile, method = 'GET', body] = process.argv.slice(2)
if (url) {
  const ca = caFile ? readFileSync(caFile, 'utf8') : undefined
  const tr = new HttpTransport({ca})
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
