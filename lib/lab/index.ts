// The local lab: a real kube-apiserver, etcd and kube-controller-manager, and a real OpenBao,
// on loopback, for tests (startLab & co.) and for `cloudtaser lab up|env|down`.
export {startControlPlane, CONTROLLERS, type ControlPlane, type ControlPlaneOptions, type ControlPlanePorts} from './controlplane.js'
export {startOpenBao, type OpenBao, type OpenBaoOptions} from './openbao.js'
export {startLab, type Lab, type LabOptions} from './lab.js'
export {ensureBinary} from './binary.js'
export {baoBinary, repoRoot} from './paths.js'
export {labUp, labDown, readState, requireRunning, envLines, defaultStateDir, type LabState, type DownResult} from './daemon.js'
export {startS3Server, ensureS3ServerBinary, type S3Server} from './s3-server.js'
