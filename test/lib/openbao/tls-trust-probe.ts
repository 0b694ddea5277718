// Child process for http1-transport.test.ts: one GET through a transport (http1 or undici), run with
// NODE_EXTRA_CA_CERTS set by the parent (read by Node only at start). Prints {status} or {code}.
// Without arguments (tap runs every file here) it does nothing.
import {readFileSync} from 'node:fs'
import {Http1Transport} from '../../../lib/openbao/http1-transport.js'
import {UndiciTransport} from '../../../lib/openbao/undici-transport.js'

const [kind, url, caFile] = process.argv.slice(2)
if (url) {
  const ca = caFile ? readFileSync(caFile, 'utf8') : undefined
  const tr = kind === 'undici' ? new UndiciTransport({ca, timeoutMs: 5000}) : new Http1Transport({ca})
  tr.request({method: 'GET', url: new URL(url), headers: {}, timeoutMs: 5000})
    .then(
      (r) => ({status: r.status}),
      (err: {code?: string}) => ({code: err.code}),
    )
    .then(async (out) => {
      process.stdout.write(JSON.stringify(out))
      await tr.close()
    })
}
