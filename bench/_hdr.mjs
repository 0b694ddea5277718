import {S3Client, PutObjectCommand} from '@aws-sdk/client-s3'
import {Readable} from 'node:stream'
import http from 'node:http'
const srv = http.createServer((req, res) => { console.log(req.method, req.url, req.headers['x-amz-content-sha256'], req.headers['content-encoding'], req.headers['transfer-encoding'], req.headers['content-length']); req.resume(); req.on('end', () => res.end()) }).listen(0)
await new Promise(r => srv.once('listening', r))
const c = new S3Client({endpoint: `http://127.0.0.1:${srv.address().port}`, region: 'us-east-1', forcePathStyle: true, credentials: {accessKeyId: 'a', secretAccessKey: 'b'}, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED'})
const block = Buffer.alloc(1 << 20)
await c.send(new PutObjectCommand({Bucket: 'b', Key: 'k', Body: Readable.from([block, block]), ContentLength: 2 << 20})).catch(e => console.log(e.name))
await c.send(new PutObjectCommand({Bucket: 'b', Key: 'k', Body: block})).catch(e => console.log(e.name))
const c2 = new S3Client({endpoint: `http://127.0.0.1:${srv.address().port}`, region: 'us-east-1', forcePathStyle: true, credentials: {accessKeyId: 'a', secretAccessKey: 'b'}})
await c2.send(new PutObjectCommand({Bucket: 'b', Key: 'k', Body: Readable.from([block, block]), ContentLength: 2 << 20})).catch(e => console.log(e.name))
srv.close()
