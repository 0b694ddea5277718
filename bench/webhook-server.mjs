// One server for bench/webhook.mjs, in its own process so the load generator does not share its
// event loop: `operator` is the real webhook (startOperator, no registration); `bare` is a plain
// Node HTTPS server that reads the body and answers the operator's exact response bytes.
import {createServer} from 'node:https'
const [kind, reviewFile] = process.argv.slice(2)
const {startOperator, review} = await import('../dist/runtime/operator/server.js')
const {generateServingPki} = await import('../dist/runtime/operator/pki.js')
const {readFileSync} = await import('node:fs')
const mutation = {wrapperImage: 'registry.example/cloudtaser-wrapper:1', wrapperSource: '/cloudtaser-wrapper'}
if (kind === 'operator') {
  const op = await startOperator({mutation, host: '127.0.0.1', port: 0, register: false, failurePolicy: 'Fail', timeoutSeconds: 5, excludeNamespaces: [], log: () => {}})
  process.stdout.write(`${JSON.stringify({port: op.port, ca: op.caPem})}\n`)
} else {
  const body = JSON.parse(readFileSync(reviewFile, 'utf8'))
  const answer = JSON.stringify({apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: review(body, mutation).response})
  const pki = await generateServingPki(['127.0.0.1'])
  const server = createServer({cert: pki.certPem, key: pki.keyPem, minVersion: 'TLSv1.2'}, (req, res) => {
    req.on('data', () => {})
    req.on('end', () => {
      res.setHeader('content-type', 'application/json')
      res.end(answer)
    })
  })
  server.keepAliveTimeout = 30_000
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({port: server.address().port, ca: pki.caPem})}\n`))
}
