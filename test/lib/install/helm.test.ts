// target install's helm command lines, and --dry-run rendering the real chart with the real helm
// (tools/helm/build.sh builds it; the cluster-side install runs in the demo and test/charts).
import t from 'tap'
import {execFileSync, spawnSync} from 'node:child_process'
import {join} from 'node:path'
import {chartDir, installArgs, uninstallArgs} from '../../../lib/install/helm.js'
import {repoRoot} from '../../../lib/lab/index.js'

const base = {release: 'cloudtaser', namespace: 'cloudtaser-system', mode: 'direct' as const, values: ['a.yaml', 'b.yaml'], vaultAddress: 'https://bao.eu:8200', set: ['operator.replicas=3'], dryRun: false, wait: true, timeout: '2m', kubeconfig: '/k', context: 'prod'}

t.test('upgrade --install: values in order, --mode before --set (the flag typed wins over files, --set over both), cluster as kubectl', async (t) => {
  t.same(installArgs(base), [
    'upgrade', '--install', 'cloudtaser', chartDir(), '--create-namespace',
    '--namespace', 'cloudtaser-system', '--values', 'a.yaml', '--values', 'b.yaml',
    '--set', 'operator.broker.mode=direct', '--set', 'operator.vaultAddress=https://bao.eu:8200', '--set', 'operator.replicas=3',
    '--kubeconfig', '/k', '--kube-context', 'prod',
    '--wait', '--timeout', '2m',
  ])
  t.same(installArgs({...base, dryRun: true}).slice(0, 3), ['template', 'cloudtaser', chartDir()], 'dry-run renders, never touches the cluster')
  t.same(installArgs({...base, mode: 'beacon', beacon: {address: 'beacon.eu:443', caSha256: 'ab'.repeat(32), plain: true}, set: []}).slice(11, 23), [
    '--set', 'operator.broker.mode=beacon', '--set', 'operator.secretBackend=kubernetes',
    '--set', 'operator.broker.beacon.address=beacon.eu:443', '--set', `operator.broker.beacon.caSha256=${'ab'.repeat(32)}`, '--set', 'operator.broker.beacon.plain=true',
    '--kubeconfig', '/k',
  ], 'beacon mode: the relay and the pin as values, the webhook material in a Secret, $BAO_ADDR not used')
  t.same(installArgs({...base, mode: 'beacon', beacon: {address: 'beacon.eu:443', caSha256: 'ab'.repeat(32), authMount: 'k8s-prod'}, set: []}).slice(11, 15), ['--set', 'operator.broker.mode=beacon', '--set', 'operator.broker.beacon.authMount=k8s-prod'], 'with the jwt mount the operator keeps its material in OpenBao (no secretBackend override)')
  t.same(uninstallArgs({...base, wait: false}), ['uninstall', 'cloudtaser', '--namespace', 'cloudtaser-system', '--kubeconfig', '/k', '--kube-context', 'prod'])
})

t.test('--dry-run prints the manifests of the chart with the chosen values; a bad value is helm\'s clear error', async (t) => {
  const helmDir = execFileSync('bash', [join(repoRoot(), 'tools', 'helm', 'build.sh')], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit']}).trim()
  const env = {...process.env, BAO_ADDR: 'https://bao.eu:8200', CLOUDTASER_HELM: join(helmDir, 'helm'), HELM_CACHE_HOME: '/tmp/ct-helm-cache', HELM_CONFIG_HOME: '/tmp/ct-helm-config'}
  const run = (args: string[]) => spawnSync(process.execPath, ['bin/run.js', 'target', 'install', ...args], {env, encoding: 'utf8'})
  const r = run(['--dry-run', '--set', 'operator.replicas=3', '--json'])
  t.equal(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout) as {manifests: string; dryRun: boolean; helm: string[]}
  t.ok(out.dryRun)
  t.match(out.manifests, /kind: Deployment\n/)
  t.match(out.manifests, /replicas: 3\n/)
  t.match(out.manifests, /kind: DaemonSet\n/)
  t.match(out.manifests, /value: "?https:\/\/bao\.eu:8200"?\n/, 'the operator gets $BAO_ADDR')
  const noAddress = spawnSync(process.execPath, ['bin/run.js', 'target', 'install', '--dry-run'], {env: {...env, BAO_ADDR: '', VAULT_ADDR: ''}, encoding: 'utf8'})
  t.equal(noAddress.status, 3)
  t.match(noAddress.stderr, /operator\.vaultAddress/, 'without an address the chart says which value is missing')
  const bad = run(['--dry-run', '--set', 'operator.nosuchvalue=1'])
  t.equal(bad.status, 3)
  t.match(bad.stderr, /HELM_FAILED.*nosuchvalue|nosuchvalue[\s\S]*HELM_FAILED/)
  const missing = spawnSync(process.execPath, ['bin/run.js', 'target', 'install', '--dry-run'], {env: {...env, CLOUDTASER_HELM: '/nonexistent/helm'}, encoding: 'utf8'})
  t.equal(missing.status, 3)
  t.match(missing.stderr, /HELM_FAILED/)
})
