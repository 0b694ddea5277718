// The lab's node: Pods from images built here run and log, reach Services by DNS name and by
// NodePort, log in to OpenBao with their projected token; the demo Redis authenticates its real
// client; and stopping the lab leaves nothing behind, each kind of leftover checked. One lab
// for the whole file (a node costs seconds to start).
import t from 'tap'
import {CoreV1Api, KubeConfig} from '@kubernetes/client-node'
import {spawn} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {BASE, HOST_PATHS, REDIS, buildImage, ensureBinary, mountsUnder, pushImage, readRecords, repoRoot, startLab} from '../../../lib/lab/index.js'
import {bao, eventually} from './helpers.js'

const sysctls = ['kernel/panic', 'kernel/panic_on_oops', 'vm/overcommit_memory']
const readSysctls = () => sysctls.map((k) => readFileSync(`/proc/sys/${k}`, 'utf8').trim())
// Another lab's node may be running (parallel test files): then the sysctls stay changed until it stops.
const othersBefore = readRecords().length
const sysctlsBefore = readSysctls()
const absentBefore = HOST_PATHS.filter((p) => !existsSync(p))

const bin = await ensureBinary()
const lab = await startLab({node: true})
t.teardown(() => lab.stop())
const node = lab.node!
t.comment(`lab with node ready in ${lab.readyMs} ms (${JSON.stringify(node.timings)})`)

/** kubectl from the lab's binary; resolves with stdout, rejects with stderr. */
const kubectl = (args: string[], input?: string) =>
  new Promise<string>((resolve, reject) => {
    const child = spawn(bin, ['kubectl', `--kubeconfig=${lab.kubeconfigPath}`, ...args], {stdio: ['pipe', 'pipe', 'pipe']})
    let out = ''
    let err = ''
    child.stdout.on('data', (c: Buffer) => (out += c))
    child.stderr.on('data', (c: Buffer) => (err += c))
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`kubectl ${args.join(' ')}: exit ${code}: ${err}`))))
    child.stdin.end(input ?? '')
  })

const imagesDir = mkdtempSync(join(tmpdir(), 'cloudtaser-images-'))
t.teardown(() => rmSync(imagesDir, {recursive: true, force: true}))
const base = await buildImage(BASE, join(imagesDir, 'a'))
const baseImage = await pushImage(base, node.registry)

t.test('images: the same inputs give the same digest', async (t) => {
  const again = await buildImage(BASE, join(imagesDir, 'b'))
  t.equal(again.digest, base.digest)
  t.comment(`base ${base.ref}: ${base.digest}, ${(base.size / 1e6).toFixed(2)} MB compressed, built in ${base.buildMs} ms`)
})

t.test('a Deployment from a lab-built image runs and logs; exec and a NodePort Service work', async (t) => {
  const index = '<p>served-by-lab-node</p>'
  await kubectl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: {name: 'web', namespace: 'default'},
        spec: {
          replicas: 2,
          selector: {matchLabels: {app: 'web'}},
          template: {
            metadata: {labels: {app: 'web'}},
            spec: {
              containers: [{
                name: 'web',
                image: baseImage,
                command: ['sh', '-c', `mkdir -p /www && echo '${index}' > /www/index.html && echo web-started && exec httpd -f -p 8080 -h /www`],
                ports: [{containerPort: 8080}],
                readinessProbe: {httpGet: {path: '/', port: 8080}, periodSeconds: 1},
              }],
            },
          },
        },
      },
      {apiVersion: 'v1', kind: 'Service', metadata: {name: 'web', namespace: 'default'}, spec: {type: 'NodePort', selector: {app: 'web'}, ports: [{port: 80, targetPort: 8080}]}},
    ],
  }))
  await kubectl(['rollout', 'status', 'deployment/web', '--timeout=60s'])
  t.match(await kubectl(['logs', 'deployment/web']), /web-started/, 'kubectl logs')
  t.match(await kubectl(['exec', 'deployment/web', '--', 'cat', '/www/index.html']), /served-by-lab-node/, 'kubectl exec')
  const svc = JSON.parse(await kubectl(['get', 'service', 'web', '-o', 'json']))
  const nodePort = svc.spec.ports[0].nodePort as number
  const body = await eventually('the NodePort to answer from the host', async () => {
    const r = await fetch(`http://${node.network.nodeIp}:${nodePort}/`, {signal: AbortSignal.timeout(2000)})
    return r.ok ? r.text() : undefined
  })
  t.match(body, /served-by-lab-node/, 'NodePort from the host')
})

t.test('a StatefulSet and a DaemonSet roll out', async (t) => {
  const pod = {containers: [{name: 'c', image: baseImage, command: ['sleep', '3600']}], terminationGracePeriodSeconds: 1}
  await kubectl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: {name: 'sts'}, spec: {serviceName: 'sts', replicas: 2, selector: {matchLabels: {app: 'sts'}}, template: {metadata: {labels: {app: 'sts'}}, spec: pod}}},
      {apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: {name: 'ds'}, spec: {selector: {matchLabels: {app: 'ds'}}, template: {metadata: {labels: {app: 'ds'}}, spec: pod}}},
    ],
  }))
  await kubectl(['rollout', 'status', 'statefulset/sts', '--timeout=60s'])
  await kubectl(['rollout', 'status', 'daemonset/ds', '--timeout=60s'])
  t.equal((await kubectl(['get', 'pod', 'sts-1', '-o', 'jsonpath={.status.phase}'])).trim(), 'Running')
})

t.test('a Pod reaches a Service by its DNS name, and names outside the cluster do not resolve', async (t) => {
  await kubectl(['run', 'dns-client', '--image', baseImage, '--restart=Never', '--command', '--', 'sh', '-c',
    'wget -qO- http://web.default.svc.cluster.local/ && nslookup kubernetes.default.svc.cluster.local; if nslookup example.com; then echo OUTSIDE-RESOLVED; fi; echo done'])
  const log = await eventually('the client Pod to finish', async () => {
    const phase = (await kubectl(['get', 'pod', 'dns-client', '-o', 'jsonpath={.status.phase}'])).trim()
    return phase === 'Succeeded' || phase === 'Failed' ? kubectl(['logs', 'dns-client']) : undefined
  }, 60_000)
  t.match(log, /served-by-lab-node/, 'ClusterIP Service by name')
  t.match(log, new RegExp(node.network.kubernetesIp.replaceAll('.', '\\.')), 'the kubernetes Service resolves')
  t.notMatch(log, /OUTSIDE-RESOLVED/, 'no forwarding beyond the cluster')
  t.match(log, /done/)
})

t.test("a Pod's projected ServiceAccount token logs in to OpenBao's kubernetes auth", async (t) => {
  const root = (method: string, path: string, body?: unknown) => bao(lab.baoAddr, lab.baoToken, method, path, body)
  t.match(lab.baoAddr, new RegExp(`^http://${node.network.hostIp.replaceAll('.', '\\.')}:`), 'OpenBao listens where Pods reach it')
  await kubectl(['create', 'serviceaccount', 'app'])
  await kubectl(['create', 'clusterrolebinding', 'app-reviewer', '--clusterrole=system:auth-delegator', '--serviceaccount=default:app'])
  t.equal((await root('POST', 'sys/auth/kubernetes', {type: 'kubernetes'})).status, 204)
  // No reviewer JWT: OpenBao uses the login token itself for the TokenReview (it may: auth-delegator).
  t.equal((await root('POST', 'auth/kubernetes/config', {kubernetes_host: lab.controlPlane.server, kubernetes_ca_cert: lab.controlPlane.caPem, disable_local_ca_jwt: true})).status, 204)
  t.equal((await root('POST', 'auth/kubernetes/role/app', {bound_service_account_names: ['app'], bound_service_account_namespaces: ['default'], token_policies: ['default'], token_ttl: '5m'})).status, 204)
  await kubectl(['run', 'bao-login', '--image', baseImage, '--restart=Never', '--overrides', JSON.stringify({spec: {serviceAccountName: 'app'}}), '--command', '--', 'sh', '-c',
    `jwt=$(cat /var/run/secrets/kubernetes.io/serviceaccount/token); wget -qO- --header 'Content-Type: application/json' --post-data "{\\"role\\":\\"app\\",\\"jwt\\":\\"$jwt\\"}" ${lab.baoAddr}/v1/auth/kubernetes/login`])
  const log = await eventually('the login Pod to finish', async () => {
    const phase = (await kubectl(['get', 'pod', 'bao-login', '-o', 'jsonpath={.status.phase}'])).trim()
    return phase === 'Succeeded' || phase === 'Failed' ? kubectl(['logs', 'bao-login']) : undefined
  }, 60_000)
  const auth = JSON.parse(log).auth
  t.match(auth.metadata, {service_account_name: 'app', service_account_namespace: 'default'})
  // The kubelet's token is bound to the Pod: OpenBao saw the Pod's identity, not a TokenRequest's.
  const lookup = await bao(lab.baoAddr, auth.client_token, 'GET', 'auth/token/lookup-self')
  t.equal(lookup.status, 200)
})

t.test('the demo Redis (examples/demo/redis.yaml) authenticates its real client', async (t) => {
  const redis = await buildImage(REDIS, join(imagesDir, 'a'))
  await pushImage(redis, node.registry)
  t.comment(`redis ${redis.ref}: ${(redis.size / 1e6).toFixed(2)} MB compressed, built in ${redis.buildMs} ms`)
  await kubectl(['apply', '-f', join(repoRoot(), 'examples', 'demo', 'redis.yaml')])
  // Ready only while the client proves NOAUTH without the password and PONG with it.
  await kubectl(['-n', 'redis-demo', 'rollout', 'status', 'deployment/redis-client', '--timeout=90s'])
  const log = await kubectl(['-n', 'redis-demo', 'logs', 'deployment/redis-client'])
  t.match(log, /authenticated: hello-from-redis-cli/)
})

t.test("the kubelet runs as the node: it reads its own Pods' Secrets and no other", async (t) => {
  const asNode = new KubeConfig()
  asNode.loadFromFile(join(node.network.dir, 'kubelet.kubeconfig'))
  const core = asNode.makeApiClient(CoreV1Api)
  await kubectl(['-n', 'redis-demo', 'create', 'secret', 'generic', 'unrelated', '--from-literal=k=v'])
  t.equal((await core.readNamespacedSecret({name: 'redis-auth', namespace: 'redis-demo'})).metadata?.name, 'redis-auth')
  await t.rejects(core.readNamespacedSecret({name: 'unrelated', namespace: 'redis-demo'}), {code: 403})
})

t.test('stopping the lab leaves no process, mount, namespace, veth, route, cgroup, CNI state or sysctl change', async (t) => {
  const {netns, hostIf, dir, cgroupRoot, cniNetwork, podCidr} = node.network
  const pids = node.processes.map((p) => p.pid)
  await lab.stop()
  t.notOk(pids.some((pid) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z')), 'no node process')
  t.same(mountsUnder(dir), [], 'no mount under the node directory')
  t.notOk(readFileSync('/proc/self/mountinfo', 'utf8').includes(dir), 'no mount mentions the node')
  t.notOk(existsSync(dir), 'node directory (containerd and kubelet state) removed')
  t.notOk(existsSync(`/run/netns/${netns}`), 'network namespace removed')
  t.notOk(existsSync(`/sys/class/net/${hostIf}`), 'veth removed')
  const {stdout: routes} = await new Promise<{stdout: string}>((resolve) => {
    const c = spawn('ip', ['route'])
    let s = ''
    c.stdout.on('data', (d: Buffer) => (s += d))
    c.on('close', () => resolve({stdout: s}))
  })
  t.notOk(routes.includes(podCidr), 'host routes removed')
  t.notOk(readdirSync('/sys/fs/cgroup').some((c) => existsSync(join('/sys/fs/cgroup', c, cgroupRoot))), 'cgroups removed')
  for (const cache of ['/var/lib/cni/results', '/var/lib/cni/networks']) {
    t.notOk(existsSync(cache) && readdirSync(cache).some((f) => f.startsWith(cniNetwork)), `nothing of ours in ${cache}`)
  }
  t.notOk(readRecords().some((r) => r.netns === netns), 'record removed')
  if (othersBefore === 0 && readRecords().length === 0) {
    t.same(readSysctls(), sysctlsBefore, "the kubelet's sysctl changes restored")
    t.same(absentBefore.filter((p) => existsSync(p)), [], 'no machine path the node created (/run/netns, /run/containerd, /var/lib/cni, /var/log/containers, /var/lib/kubelet)')
  }
  const {stdout: rules} = await new Promise<{stdout: string}>((resolve) => {
    const c = spawn('iptables-save')
    let s = ''
    c.stdout.on('data', (d: Buffer) => (s += d))
    c.on('close', () => resolve({stdout: s}))
  })
  t.notOk(/KUBE-|CNI-/.test(rules), "no kube-proxy or CNI rule on the host (they lived in the node's namespace)")
})
