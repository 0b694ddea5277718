import {execFile, execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync} from 'node:fs'
import {dirname, join, relative} from 'node:path'
import {promisify} from 'node:util'
import {labError} from './errors.js'
import {GzipCache, writeImage, type BuiltImage, type ImageConfig, type LayerEntry} from './oci.js'
import {baoBinary, repoRoot} from './paths.js'

const run = promisify(execFile)

/**
 * The lab's images, built here from Debian's files and ours, without Docker: a pause image for
 * Pod sandboxes, a busybox base for tests and shells, and a demo Redis no one here wrote. Each
 * is an OCI layout in .cache/images/<name>, reproducible (see oci.ts), pushed to the lab's
 * registry with skopeo.
 */
export interface ImageDef {
  name: string
  /** Read from what goes in (package versions), so a tag names its content. */
  tag: () => Promise<string>
  layers: () => Promise<LayerEntry[][]>
  config: ImageConfig
  /** For images of binaries built by other steps: why it is skipped when its input is missing. */
  missing?: () => string | undefined
}

export interface ImageResult extends BuiltImage {
  name: string
  /** <name>:<tag>, to prefix with the registry. */
  ref: string
  buildMs: number
}

const file = (hostPath: string, imagePath = hostPath, mode?: number): LayerEntry => {
  const real = realpathSync(hostPath)
  return {type: 'file', path: imagePath, content: readFileSync(real), mode: mode ?? (statSync(real).mode & 0o777)}
}

function need(path: string, pkg: string): string {
  if (!existsSync(path)) throw labError('IMAGE_INPUT_MISSING', `${path} is missing (Debian package ${pkg})`, 'Run `bash .ci/install.d/60-node.sh`.')
  return path
}

/** A binary and every shared library ldd names for it (and the dynamic loader), at their paths. */
async function withLibraries(binary: string): Promise<LayerEntry[]> {
  const {stdout} = await run('ldd', [binary])
  const entries = [file(binary)]
  for (const line of stdout.split('\n')) {
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line)
    if (m) entries.push(file(m[1]!))
  }
  return entries
}

/** One entry per path: binaries share libraries (libc), and a layer must not hold a path twice. */
function uniqueByPath(entries: LayerEntry[]): LayerEntry[] {
  const seen = new Set<string>()
  return entries.filter((e) => !seen.has(e.path) && Boolean(seen.add(e.path)))
}

/** Small files every image needs: users for `runAsUser`, a /tmp. */
const skeleton: LayerEntry[] = [
  {type: 'file', path: 'etc/passwd', content: Buffer.from('root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n')},
  {type: 'file', path: 'etc/group', content: Buffer.from('root:x:0:\nnogroup:x:65534:\n')},
  {type: 'dir', path: 'tmp', mode: 0o1777},
  {type: 'dir', path: 'root', mode: 0o700},
]

async function busyboxLayer(): Promise<LayerEntry[]> {
  const busybox = need('/bin/busybox', 'busybox-static')
  const {stdout} = await run(busybox, ['--list-full'])
  const links: LayerEntry[] = stdout
    .split('\n')
    .filter((p) => p && p !== 'bin/busybox')
    .map((p) => ({type: 'symlink', path: p, target: '/bin/busybox'}))
  return [file(busybox, 'bin/busybox', 0o755), ...links, ...skeleton]
}

async function pauseBinary(): Promise<Buffer> {
  const source = join(repoRoot(), 'lib', 'lab', 'images', 'pause.c')
  const key = createHash('sha256').update(readFileSync(source)).digest('hex').slice(0, 16)
  const out = join(repoRoot(), '.cache', 'images', `pause-${key}`)
  if (!existsSync(out)) {
    mkdirSync(join(repoRoot(), '.cache', 'images'), {recursive: true})
    try {
      await run('gcc', ['-static', '-Os', '-s', '-o', `${out}.tmp`, source])
      await run('mv', [`${out}.tmp`, out])
    } catch (err) {
      throw labError('IMAGE_BUILD', `gcc -static pause.c: ${(err as Error).message}`, 'Needs gcc and libc6-dev (static glibc): `bash .ci/install.d/60-node.sh`.')
    }
  }
  return readFileSync(out)
}

const firstLine = async (cmd: string, args: string[], re: RegExp) => {
  const {stdout, stderr} = await run(cmd, args).catch((err: {stdout?: string; stderr?: string}) => ({stdout: err.stdout ?? '', stderr: err.stderr ?? ''}))
  return re.exec(`${stdout}${stderr}`)?.[1] ?? 'unknown'
}

export const PAUSE: ImageDef = {
  name: 'pause',
  tag: async () => '3.10',
  layers: async () => [[{type: 'file', path: 'pause', mode: 0o755, content: await pauseBinary()}]],
  config: {entrypoint: ['/pause'], user: '65535:65535'},
}

export const BASE: ImageDef = {
  name: 'base',
  tag: async () => `busybox-${await firstLine('/bin/busybox', [], /BusyBox v(\S+)/)}`,
  layers: async () => [await busyboxLayer()],
  config: {cmd: ['/bin/sh']},
}

/**
 * Debian's Redis (server and redis-cli) on the busybox base. Configured the usual ways: a
 * config file (mount one at /etc/redis/redis.conf) and the password from REDIS_PASSWORD.
 */
export const REDIS: ImageDef = {
  name: 'redis',
  // major.minor: examples/demo names it, and Debian's stable updates keep it.
  tag: async () => firstLine(need('/usr/bin/redis-server', 'redis-server'), ['--version'], /v=(\d+\.\d+)/),
  layers: async () => [
    await busyboxLayer(),
    [
      ...(await withLibraries('/usr/bin/redis-server')),
      ...(await withLibraries(need('/usr/bin/redis-cli', 'redis-tools'))),
      {type: 'file', path: 'etc/redis/redis.conf', content: Buffer.from('bind 0.0.0.0\nprotected-mode no\nport 6379\ndir /data\nappendonly no\n')},
      {type: 'file', path: 'usr/local/bin/redis-entrypoint', mode: 0o755, content: Buffer.from(REDIS_ENTRYPOINT)},
      {type: 'dir', path: 'data', mode: 0o777},
    ],
  ],
  config: {entrypoint: ['/usr/local/bin/redis-entrypoint'], exposedPorts: ['6379/tcp'], workingDir: '/data'},
}

// The password travels by environment into the config Redis reads on stdin: never into argv,
// which every process on the node can read in /proc.
const REDIS_ENTRYPOINT = `#!/bin/sh
set -e
if [ -n "$REDIS_PASSWORD" ]; then
  { cat /etc/redis/redis.conf; printf 'requirepass "%s"\\n' "$REDIS_PASSWORD"; } | exec redis-server - "$@"
fi
exec redis-server /etc/redis/redis.conf "$@"
`

/** Every file, directory and symlink under hostDir, placed under imageDir; `skip` prunes by name and host path. */
function tree(hostDir: string, imageDir: string, skip: (name: string, host: string) => boolean = () => false): LayerEntry[] {
  const out: LayerEntry[] = []
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const host = join(dir, name)
      if (skip(name, host)) continue
      const path = join(imageDir, relative(hostDir, host))
      const st = lstatSync(host)
      if (st.isSymbolicLink()) out.push({type: 'symlink', path, target: readlinkSync(host)})
      else if (st.isDirectory()) {
        out.push({type: 'dir', path, mode: st.mode & 0o777})
        walk(host)
      } else if (st.isFile()) out.push({type: 'file', path, mode: st.mode & 0o777, content: readFileSync(host)})
    }
  }
  walk(hostDir)
  return out
}

/**
 * The packages `npm ls --omit=dev` names: what the CLI needs at run time. Asked where node_modules
 * really is: in a git worktree whose node_modules is a symlink to another checkout's, npm ls run
 * in the worktree takes every package for extraneous and names nested ones by the other path.
 */
async function productionModules(root: string): Promise<LayerEntry[]> {
  const installed = dirname(realpathSync(join(root, 'node_modules')))
  const {stdout} = await run('npm', ['ls', '--omit=dev', '--parseable', '--all'], {cwd: installed, maxBuffer: 16 << 20}).catch((err: {stdout?: string}) => ({stdout: err.stdout ?? ''}))
  const dirs = stdout.split('\n').filter((d) => d.startsWith(join(installed, 'node_modules')) && !d.includes('/@types/'))
  return dirs.flatMap((d) => tree(d, join('app', relative(installed, d)), (name) => name === 'node_modules' || name === '.bin'))
}

/**
 * One image for the CLI, the operator, the beacon and the bridge (`cloudtaser operator run`,
 * `cloudtaser beacon run`, ...): the pinned Node with its libraries, dist/ and the production
 * packages. Needs `npm run build` first (npm run build:images does it).
 */
export const CLOUDTASER: ImageDef = {
  name: 'cloudtaser',
  tag: async () => (JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')) as {version: string}).version,
  missing: () => (existsSync(join(repoRoot(), 'dist', 'cli')) ? undefined : 'dist/ not built (npm run build)'),
  layers: async () => {
    const root = repoRoot()
    const node = realpathSync(join(root, 'node_modules', '.bin', 'node'))
    const app: LayerEntry[] = [
      ...['package.json', 'oclif.manifest.json'].filter((f) => existsSync(join(root, f))).map((f) => file(join(root, f), join('app', f))),
      ...tree(join(root, 'bin'), 'app/bin'),
      // Not the wrapper's single executable (dist/wrapper): it has an image of its own.
      ...tree(join(root, 'dist'), 'app/dist', (_name, host) => host === join(root, 'dist', 'wrapper')),
      ...tree(join(root, 'schema'), 'app/schema'),
      ...(await productionModules(root)),
    ]
    const system = uniqueByPath([...(await withLibraries(node)).map((e) => (e.path === node ? {...e, path: 'usr/local/bin/node'} : e)), ...skeleton])
    return [system, app]
  },
  config: {entrypoint: ['/usr/local/bin/node', '/app/bin/run.js'], workingDir: '/app', user: '65534:65534', env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'NODE_ENV=production']},
}

/**
 * The node agent: the cloudtaser image (`cloudtaser ebpf run` supervises the agent, serves health
 * and metrics, labels the node) plus the static agent built by runtime/ebpf's Makefile, where
 * resolveAgentBinary looks first. Runs as root: loading BPF programs needs it.
 */
export const EBPF_AGENT: ImageDef = {
  name: 'ebpf-agent',
  tag: async () => 'dev',
  missing: () => CLOUDTASER.missing?.() ?? (existsSync(ebpfAgentPath()) ? undefined : `${ebpfAgentPath()} not built (make -C runtime/ebpf all)`),
  layers: async () => [...(await CLOUDTASER.layers()), [file(ebpfAgentPath(), 'usr/local/bin/cloudtaser-ebpf-agent', 0o755)]],
  config: {...CLOUDTASER.config, user: '0:0'},
}
const ebpfAgentPath = () => join(repoRoot(), 'runtime', 'ebpf', 'build', 'cloudtaser-ebpf-agent')

/** The static Rust wrapper alone in an empty root: its `install DIR` copies it, no shell needed. */
export const WRAPPER: ImageDef = {
  name: 'wrapper',
  tag: async () => 'dev',
  missing: () => undefined,
  layers: async () => [[file(wrapperBinary(), 'cloudtaser-wrapper', 0o755)]],
  config: {entrypoint: ['/cloudtaser-wrapper']},
}
/** runtime/wrapper/build.sh builds (cargo caches) and prints the executable's path. */
const wrapperBinary = (): string => execFileSync('bash', [join(repoRoot(), 'runtime', 'wrapper', 'build.sh')], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit']}).trim()

/**
 * OpenBao's own agent (`bao agent`, the lab's bao binary) on the busybox base: the Vault Agent
 * Injector style sidecar that bench/pod-start.mjs compares the wrapper with. Not in LAB_IMAGES:
 * only that bench needs it, and its ~180 MB layer is slow to pack.
 */
export const BAO_AGENT: ImageDef = {
  name: 'bao-agent',
  tag: async () => firstLine(baoBinary(), ['version'], /OpenBao v(\S+)/),
  layers: async () => [await busyboxLayer(), [file(baoBinary(), 'usr/local/bin/bao', 0o755)]],
  config: {entrypoint: ['/usr/local/bin/bao'], cmd: ['agent', '-config=/etc/bao/agent.hcl'], user: '65534:65534'},
}

/**
 * Debian's curl on the busybox base: an S3 client no one here wrote (`curl --aws-sigv4`), for the
 * S3 proxy sidecar's end-to-end test (test/e2e/s3-sidecar.test.ts). Not in LAB_IMAGES: only that
 * test needs it, and it builds and pushes it itself.
 */
export const CURL: ImageDef = {
  name: 'curl',
  tag: async () => firstLine(need('/usr/bin/curl', 'curl'), ['--version'], /^curl (\S+)/),
  layers: async () => [await busyboxLayer(), uniqueByPath(await withLibraries('/usr/bin/curl'))],
  config: {cmd: ['/bin/sh']},
}

export const LAB_IMAGES: ImageDef[] = [PAUSE, BASE, REDIS, CLOUDTASER, EBPF_AGENT, WRAPPER]

export function imagesDir(): string {
  return join(repoRoot(), '.cache', 'images')
}

export async function buildImage(def: ImageDef, outDir = imagesDir()): Promise<ImageResult> {
  const t0 = Date.now()
  const tag = await def.tag()
  const built = writeImage(join(outDir, def.name), tag, await def.layers(), def.config, new GzipCache(join(outDir, 'gzip-cache')))
  return {...built, name: def.name, ref: `${def.name}:${tag}`, buildMs: Date.now() - t0}
}

/** skopeo copy from the OCI layout to <registry>/<name>:<tag> over plain HTTP (the lab's registry). */
export async function pushImage(image: ImageResult, registry: string): Promise<string> {
  const dest = `${registry}/${image.ref}`
  try {
    await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${image.layout}:${image.tag}`, `docker://${dest}`], {timeout: 120_000})
  } catch (err) {
    throw labError('IMAGE_PUSH', `skopeo copy to ${dest}: ${(err as {stderr?: string}).stderr?.trim() || (err as Error).message}`, 'Needs skopeo (`bash .ci/install.d/60-node.sh`) and a running registry.')
  }
  return dest
}

export interface LoadResult {
  images: Array<ImageResult & {pushed?: string}>
  /** Images whose input is not built here, and why. */
  skipped: Array<{name: string; reason: string}>
  registry?: string
}

/**
 * `cloudtaser lab images` / `npm run build:images`: builds every lab image into `outDir` and,
 * given a registry (the running lab's), pushes each there.
 */
export async function buildAndLoad(options: {registry?: string; outDir?: string} = {}): Promise<LoadResult> {
  const images: LoadResult['images'] = []
  const skipped: LoadResult['skipped'] = []
  for (const def of LAB_IMAGES) {
    const reason = def.missing?.()
    if (reason) {
      skipped.push({name: def.name, reason})
      continue
    }
    const image = await buildImage(def, options.outDir)
    images.push(options.registry ? {...image, pushed: await pushImage(image, options.registry)} : image)
  }
  return {images, skipped, ...(options.registry ? {registry: options.registry} : {})}
}
