// The local lab: a real kube-apiserver, etcd and kube-controller-manager, and a real OpenBao,
// on loopback, for tests (startLab & co.) and for `cloudtaser lab up|env|down`; optionally a
// node where Pods run (kubelet, containerd, kube-proxy, CoreDNS, a registry) and images built here.
export {startControlPlane, CONTROLLERS, NODE_CONTROLLERS, type ControlPlane, type ControlPlaneOptions, type ControlPlanePorts} from './controlplane.js'
export {startOpenBao, type OpenBao, type OpenBaoOptions} from './openbao.js'
export {startLab, type Lab, type LabNode, type LabOptions} from './lab.js'
export {ensureBinary} from './binary.js'
export {baoBinary, repoRoot} from './paths.js'
export {labUp, labDown, readState, requireRunning, envLines, defaultStateDir, type LabState, type LabUpOptions, type DownResult} from './daemon.js'
export {NODE_NAME} from './node.js'
export {readRecords, mountsUnder, HOST_PATHS, RECORD_DIR, type NodeRecord} from './node-net.js'
export {LAB_IMAGES, PAUSE, BASE, REDIS, CLOUDTASER, EBPF_AGENT, WRAPPER, BAO_AGENT, CURL, buildImage, buildAndLoad, pushImage, imagesDir, type ImageDef, type ImageResult, type LoadResult} from './images.js'
export {writeImage, tarLayer, type LayerEntry, type ImageConfig, type BuiltImage} from './oci.js'
export {huntCanaries, base64Forms, type HuntHit, type HuntResult} from './leak-hunt.js'
export {startS3Server, ensureS3ServerBinary, type S3Server, type S3ServerOptions} from './s3-server.js'
export {startBeaconSide, type BeaconSide} from './beacon-side.js'
