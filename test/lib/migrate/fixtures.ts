// Secrets of every type people have, in several namespaces, read by workloads the way they are
// today (env, envFrom, files, imagePullSecrets), with canaries in every value, for the migrate
// tests against the lab. The values are kept here (bytes) so tests can compare byte for byte.
import {randomBytes} from 'node:crypto'
import {AppsV1Api, BatchV1Api, CoreV1Api, NetworkingV1Api, type KubeConfig, type V1Container, type V1Secret} from '@kubernetes/client-node'

export const canary = (tag: string): string => `CANARY-${tag}-${randomBytes(6).toString('hex')}`

export interface FixtureSecret {
  namespace: string
  name: string
  type: string
  labels: Record<string, string>
  annotations: Record<string, string>
  data: Record<string, Buffer>
}

export interface MigrateFixture {
  namespaces: string[]
  secrets: FixtureSecret[]
  canaries: string[]
}

const pem = (kind: string, body: string): string => `-----BEGIN ${kind}-----\n${Buffer.from(body).toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END ${kind}-----\n`

/** Binary that is not UTF-8 (0xff, 0xfe, lone continuation bytes), with the canary's bytes inside and a NUL. */
export const binaryWith = (c: string, size = 2048): Buffer => {
  const b = randomBytes(size)
  b[0] = 0xff
  b[1] = 0xfe
  b[2] = 0x80
  b[3] = 0
  Buffer.from(c).copy(b, 16)
  return b
}

const container = (name: string, extra: Partial<V1Container>): V1Container => ({name, image: 'registry.example.eu/app:1', command: ['/app/run'], ...extra})

/**
 * Per namespace: `db` (Opaque: text with quotes, backslash, newline, unicode), `tls`
 * (kubernetes.io/tls: PEM), `basic` (basic-auth), `regcred` (dockerconfigjson, also an
 * imagePullSecret), `blob` (a binary value), `shared` (read by a protected and by a skipped
 * workload); in the first namespace also `big` (900 KiB of binary) and `web-tls` (also an Ingress's TLS).
 */
export async function createMigrateFixture(kc: KubeConfig, namespaces: string[]): Promise<MigrateFixture> {
  const core = kc.makeApiClient(CoreV1Api)
  const apps = kc.makeApiClient(AppsV1Api)
  const batch = kc.makeApiClient(BatchV1Api)
  const net = kc.makeApiClient(NetworkingV1Api)
  const secrets: FixtureSecret[] = []
  const canaries: string[] = []
  const c = (tag: string): string => {
    const v = canary(tag)
    canaries.push(v)
    return v
  }
  for (const [i, namespace] of namespaces.entries()) {
    await core.createNamespace({body: {metadata: {name: namespace}}})
    const mk = (name: string, type: string, data: Record<string, Buffer>, meta: {labels?: Record<string, string>; annotations?: Record<string, string>} = {}) =>
      secrets.push({namespace, name, type, labels: meta.labels ?? {}, annotations: meta.annotations ?? {}, data})
    const dbPassword = c(`db-${i}`)
    mk('db', 'Opaque', {username: Buffer.from('app'), password: Buffer.from(`${dbPassword} "quoted" back\\slash\nnew line, ünïcødé 🔑`)}, {
      labels: {'app.kubernetes.io/name': 'db', team: 'payments'},
      annotations: {
        'team.example.eu/owner': 'payments',
        // A checksum of the data: recorded nowhere (a weak value could be guessed from it).
        'checksum/values': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
        // What client-side `kubectl apply` leaves: every value, in JSON.
        'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({apiVersion: 'v1', kind: 'Secret', stringData: {password: dbPassword}}),
      },
    })
    const key = c(`tls-key-${i}`)
    mk('tls', 'kubernetes.io/tls', {'tls.crt': Buffer.from(pem('CERTIFICATE', `cert ${i}`)), 'tls.key': Buffer.from(pem('PRIVATE KEY', key))}, {labels: {'cert-manager.io/certificate-name': 'api'}})
    mk('basic', 'kubernetes.io/basic-auth', {username: Buffer.from('admin'), password: Buffer.from(c(`basic-${i}`))})
    mk('regcred', 'kubernetes.io/dockerconfigjson', {'.dockerconfigjson': Buffer.from(JSON.stringify({auths: {'registry.example.eu': {auth: Buffer.from(`bot:${c(`reg-${i}`)}`).toString('base64')}}}))})
    mk('blob', 'Opaque', {'keystore.p12': binaryWith(c(`blob-${i}`)), 'note.txt': Buffer.from('plain text next to a binary field')})
    mk('shared', 'Opaque', {token: Buffer.from(c(`shared-${i}`))})
    if (i === 0) {
      mk('big', 'Opaque', {'data.bin': binaryWith(c('big'), 900 * 1024)})
      mk('web-tls', 'kubernetes.io/tls', {'tls.crt': Buffer.from(pem('CERTIFICATE', 'web')), 'tls.key': Buffer.from(pem('PRIVATE KEY', c('web-key')))})
    }
    for (const s of secrets.filter((x) => x.namespace === namespace)) {
      const body: V1Secret = {metadata: {name: s.name, labels: s.labels, annotations: s.annotations}, type: s.type, data: Object.fromEntries(Object.entries(s.data).map(([k, v]) => [k, v.toString('base64')]))}
      await core.createNamespacedSecret({namespace, body})
    }
    await core.createNamespacedServiceAccount({namespace, body: {metadata: {name: 'api'}, imagePullSecrets: [{name: 'regcred'}]}})
    const files = [
      {name: 'tls', secret: 'tls', path: '/etc/tls'},
      {name: 'blob', secret: 'blob', path: '/etc/blob'},
      ...(i === 0 ? [{name: 'big', secret: 'big', path: '/etc/big'}, {name: 'web-tls', secret: 'web-tls', path: '/etc/web-tls'}] : []),
    ]
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: {name: 'api'},
        spec: {
          replicas: 1,
          selector: {matchLabels: {app: 'api'}},
          template: {
            metadata: {labels: {app: 'api'}},
            spec: {
              serviceAccountName: 'api',
              imagePullSecrets: [{name: 'regcred'}],
              containers: [
                container('api', {
                  env: [
                    {name: 'DB_USER', valueFrom: {secretKeyRef: {name: 'db', key: 'username'}}},
                    {name: 'DB_PASSWORD', valueFrom: {secretKeyRef: {name: 'db', key: 'password'}}},
                    {name: 'SHARED_TOKEN', valueFrom: {secretKeyRef: {name: 'shared', key: 'token'}}},
                  ],
                  envFrom: [{prefix: 'ADMIN_', secretRef: {name: 'basic'}}],
                  volumeMounts: files.map((f) => ({name: f.name, mountPath: f.path, readOnly: true})),
                }),
              ],
              volumes: files.map((f) => ({name: f.name, secret: {secretName: f.secret}})),
            },
          },
        },
      },
    })
    // Reads the registry credentials as a file (a mirror job): the dockerconfigjson is in the plan.
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: {name: 'mirror'},
        spec: {
          replicas: 1,
          selector: {matchLabels: {app: 'mirror'}},
          template: {
            metadata: {labels: {app: 'mirror'}},
            spec: {
              containers: [container('mirror', {volumeMounts: [{name: 'docker', mountPath: '/root/.docker', readOnly: true}]})],
              volumes: [{name: 'docker', secret: {secretName: 'regcred', items: [{key: '.dockerconfigjson', path: 'config.json'}]}}],
            },
          },
        },
      },
    })
    // A nightly report that also reads `shared`; the plan will mark it skipped.
    await batch.createNamespacedCronJob({
      namespace,
      body: {
        metadata: {name: 'report'},
        spec: {
          schedule: '0 3 * * *',
          jobTemplate: {spec: {template: {spec: {restartPolicy: 'OnFailure', containers: [container('report', {env: [{name: 'TOKEN', valueFrom: {secretKeyRef: {name: 'shared', key: 'token'}}}]})]}}}},
        },
      },
    })
    if (i === 0) {
      await net.createNamespacedIngress({
        namespace,
        body: {metadata: {name: 'web'}, spec: {tls: [{hosts: ['web.example.eu'], secretName: 'web-tls'}], rules: [{host: 'web.example.eu', http: {paths: [{path: '/', pathType: 'Prefix', backend: {service: {name: 'api', port: {number: 80}}}}]}}]}},
      })
    }
  }
  return {namespaces, secrets, canaries}
}
