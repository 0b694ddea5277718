// The layer gzip cache: a cached layer gives the image the same bytes and digest as a fresh
// gzip, a second build reads the blob instead of compressing, and week-old entries go.
import t from 'tap'
import {mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {randomBytes} from 'node:crypto'
import {GzipCache, writeImage, type LayerEntry} from '../../../lib/lab/oci.js'

const dir = mkdtempSync(join(tmpdir(), 'cloudtaser-oci-'))
t.teardown(() => rmSync(dir, {recursive: true, force: true}))
const layers: LayerEntry[][] = [[{type: 'file', path: 'bin/app', mode: 0o755, content: randomBytes(256 * 1024)}], [{type: 'dir', path: 'tmp', mode: 0o1777}]]
const config = {entrypoint: ['/bin/app']}

t.test('an image built through the cache is the image built without it, and the second build reads the cache', async (t) => {
  const cache = new GzipCache(join(dir, 'cache'))
  const plain = writeImage(join(dir, 'plain'), '1', layers, config)
  const first = writeImage(join(dir, 'first'), '1', layers, config, cache)
  t.equal(first.digest, plain.digest, 'same manifest digest as without the cache')
  const cached = readdirSync(cache.dir)
  t.equal(cached.length, 2, 'one entry per layer')
  // Overwrite one entry: a hit must come from the file, which this proves.
  const entry = join(cache.dir, cached[0]!)
  const before = statSync(entry).mtimeMs
  utimesSync(entry, new Date(before - 3600_000), new Date(before - 3600_000))
  const second = writeImage(join(dir, 'second'), '1', layers, config, cache)
  t.equal(second.digest, plain.digest, 'same digest from the cache')
  t.ok(statSync(entry).mtimeMs > before - 3600_000, 'a hit touches the entry, so pruning keeps it')
  writeFileSync(entry, 'not gzip')
  t.not(writeImage(join(dir, 'third'), '1', layers, config, cache).digest, plain.digest, 'the layer came from the cache, not a fresh gzip')
})

t.test('entries unused for a week are pruned when a new one is written', async (t) => {
  const cache = new GzipCache(join(dir, 'prune'))
  writeImage(join(dir, 'p1'), '1', [layers[0]!], config, cache)
  const [old] = readdirSync(cache.dir)
  const weekAgo = new Date(Date.now() - 8 * 24 * 3600_000)
  utimesSync(join(cache.dir, old!), weekAgo, weekAgo)
  writeImage(join(dir, 'p2'), '1', [layers[1]!], config, cache)
  t.same(readdirSync(cache.dir).includes(old!), false, 'the stale entry is gone')
  t.equal(readdirSync(cache.dir).length, 1, 'the new one stays')
})
