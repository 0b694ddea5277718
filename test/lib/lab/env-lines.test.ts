// `lab env`'s export lines: CLOUDTASER_LAB_REGISTRY only when the lab has a node, quoted for a
// POSIX shell like every other value.
import t from 'tap'
import {envLines, type LabState} from '../../../lib/lab/index.js'

const state: LabState = {
  version: 1,
  startedAt: '2026-12-02T00:00:00.000Z',
  stateDir: '/tmp/lab',
  kubeconfigPath: "/tmp/it's/kubeconfig",
  server: 'https://10.245.0.1:6443',
  baoAddr: 'http://10.245.0.1:8200',
  baoToken: 'token',
  binDir: '/tmp/lab/bin',
  processes: [],
  readyMs: 1,
}

t.notOk(envLines(state).some((l) => l.includes('CLOUDTASER_LAB_REGISTRY')), 'no registry without a node')
const lines = envLines({...state, node: {name: 'cloudtaser-lab', registry: '10.245.0.2:5000', netns: 'ctlab0', hostIp: '10.245.0.1', nodeIp: '10.245.0.2', podCidr: '10.244.0.0/24', serviceCidr: '10.96.0.0/20'}})
t.ok(lines.includes("export CLOUDTASER_LAB_REGISTRY='10.245.0.2:5000'"))
t.ok(lines.includes(`export KUBECONFIG='/tmp/it'\\''s/kubeconfig'`), 'quotes survive')
t.match(lines.at(-1), /^export PATH=/, 'PATH last')
