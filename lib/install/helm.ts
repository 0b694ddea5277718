import {execFile} from 'node:child_process'
import {existsSync, readdirSync} from 'node:fs'
import {delimiter, join} from 'node:path'
import {CloudtaserError, ExitCode} from '../errors.js'
import {repoRoot} from '../lab/paths.js'

/**
 * `target install` / `uninstall` are Helm: the chart in charts/cloudtaser is the one description
 * of an installation, and these commands only choose its values and run helm, so a platform team
 * can run the same helm command (or Argo CD / Flux) instead.
 */
export type ConnectivityMode = 'direct' | 'beacon' | 'reverse'

export interface InstallRequest {
  release: string
  namespace: string
  mode: ConnectivityMode
  /** Values files, in order (later wins), as helm -f. */
  values: string[]
  /** The OpenBao URL the operator uses (operator.vaultAddress); --set still wins. */
  vaultAddress?: string
  /** Beacon and reverse modes: the relay (beacon only), the cluster CA pin (register's operationalInfoHash), plain TCP to the relay. */
  beacon?: {address?: string; caSha256?: string; plain?: boolean; authMount?: string}
  /** key=value, as helm --set. */
  set: string[]
  dryRun: boolean
  wait: boolean
  timeout: string
  kubeconfig?: string
  context?: string
}

export const chartDir = (): string => join(repoRoot(), 'charts', 'cloudtaser')

/** Pure: the helm command line for a request (dry-run renders, else upgrade --install). */
export function installArgs(req: InstallRequest): string[] {
  const common = [
    '--namespace', req.namespace,
    ...req.values.flatMap((f) => ['--values', f]),
    // --mode last among the values: the flag the user typed wins over a values file.
    '--set', `operator.broker.mode=${req.mode}`,
    // Beacon and reverse modes: with the jwt auth mount the operator keeps its webhook material in OpenBao,
    // logging in through the broker; without it, in a Secret (the chart warns). --set still wins.
    ...(req.mode !== 'direct' && !req.beacon?.authMount ? ['--set', 'operator.secretBackend=kubernetes'] : []),
    ...(req.mode !== 'direct' && req.beacon?.authMount ? ['--set', `operator.broker.beacon.authMount=${req.beacon.authMount}`] : []),
    ...(req.beacon?.address ? ['--set', `operator.broker.beacon.address=${req.beacon.address}`] : []),
    ...(req.beacon?.caSha256 ? ['--set', `operator.broker.beacon.caSha256=${req.beacon.caSha256}`] : []),
    ...(req.beacon?.plain ? ['--set', 'operator.broker.beacon.plain=true'] : []),
    ...(req.vaultAddress && req.mode === 'direct' ? ['--set', `operator.vaultAddress=${req.vaultAddress}`] : []),
    ...req.set.flatMap((s) => ['--set', s]),
    ...clusterArgs(req),
  ]
  if (req.dryRun) return ['template', req.release, chartDir(), ...common]
  return ['upgrade', '--install', req.release, chartDir(), '--create-namespace', ...common, ...(req.wait ? ['--wait', '--timeout', req.timeout] : [])]
}

export function uninstallArgs(req: Pick<InstallRequest, 'release' | 'namespace' | 'wait' | 'timeout' | 'kubeconfig' | 'context'>): string[] {
  return ['uninstall', req.release, '--namespace', req.namespace, ...(req.wait ? ['--wait', '--timeout', req.timeout] : []), ...clusterArgs(req)]
}

const clusterArgs = (req: {kubeconfig?: string; context?: string}): string[] => [
  ...(req.kubeconfig ? ['--kubeconfig', req.kubeconfig] : []),
  ...(req.context ? ['--kube-context', req.context] : []),
]

/** helm from $CLOUDTASER_HELM, else PATH, else the one tools/helm/build.sh built in this checkout. */
export function findHelm(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CLOUDTASER_HELM) return env.CLOUDTASER_HELM
  for (const dir of (env.PATH ?? '').split(delimiter)) if (dir && existsSync(join(dir, 'helm'))) return join(dir, 'helm')
  const built = join(repoRoot(), '.cache', 'helm-tools')
  for (const key of existsSync(built) ? readdirSync(built) : []) if (existsSync(join(built, key, 'helm'))) return join(built, key, 'helm')
  throw new CloudtaserError('HELM_NOT_FOUND', 'helm is not on PATH', {exitCode: ExitCode.CONFIG, hint: 'Install Helm 3.8+ (https://helm.sh/docs/intro/install/), or set CLOUDTASER_HELM to its path.'})
}

export interface HelmResult {
  stdout: string
  stderr: string
}

/**
 * Helm keeps each release's record in a Secret unless told otherwise; the record holds no value
 * of ours, but "no Kubernetes Secret of cloudtaser's" should be literally true, so the record is
 * a ConfigMap (HELM_DRIVER=configmap) unless the user chose a driver. Uninstall and upgrade must
 * use the same driver, which the same default gives them.
 */
export function runHelm(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<HelmResult> {
  const helm = findHelm(env)
  const withDriver = {...env, HELM_DRIVER: env.HELM_DRIVER || 'configmap'}
  return new Promise((resolve, reject) => {
    execFile(helm, args, {env: withDriver, maxBuffer: 64 << 20}, (err, stdout, stderr) => {
      if (!err) return resolve({stdout, stderr})
      // helm's reason starts at its `Error:` line (warnings come before it) and may span lines
      // (schema violations list one per line); its "Use --debug flag" hint means nothing here.
      const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('Use --debug'))
      const from = lines.findLastIndex((l) => l.startsWith('Error:'))
      const message = (from < 0 ? lines.slice(-1) : lines.slice(from)).join(' ').replace(/^Error:\s*/, '') || err.message
      const exitCode = /forbidden|unauthorized/i.test(stderr) ? ExitCode.AUTH : /connection refused|no such host|timeout|i\/o timeout/i.test(stderr) ? ExitCode.UNAVAILABLE : ExitCode.CONFIG
      reject(new CloudtaserError('HELM_FAILED', `helm ${args[0]} failed: ${message}`, {exitCode, details: {stderr: stderr.slice(-4000)}}))
    })
  })
}
