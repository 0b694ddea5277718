// Workloads in a real cluster and the plan that describes them, for protect's integration tests.
import {AppsV1Api, BatchV1Api, CoreV1Api, type KubeConfig, type V1PodTemplateSpec} from '@kubernetes/client-node'
import type {MigrationPlan, Workload} from '../../../lib/plan/types.generated.js'

const template = (app: string, secret: string): V1PodTemplateSpec => ({
  metadata: {labels: {app}},
  spec: {
    containers: [
      {
        name: 'app',
        image: 'registry.example.eu/app:1',
        command: ['/app/run'],
        env: [
          {name: 'MODE', value: 'prod'},
          {name: 'DB_PASSWORD', valueFrom: {secretKeyRef: {name: secret, key: 'password'}}},
          {name: 'DB_USER', valueFrom: {secretKeyRef: {name: secret, key: 'username'}}},
        ],
        envFrom: [{prefix: 'API_', secretRef: {name: `${secret}-api`}}],
      },
    ],
  },
})

export interface Fixture {
  namespaces: string[]
  plan: MigrationPlan
}

/** `perNamespace` workloads in each of `namespaces` (Deployments, one StatefulSet, one CronJob). */
export async function createFixture(kc: KubeConfig, namespaces: string[], perNamespace: number, fingerprint: string): Promise<Fixture> {
  const core = kc.makeApiClient(CoreV1Api)
  const apps = kc.makeApiClient(AppsV1Api)
  const batch = kc.makeApiClient(BatchV1Api)
  const plan: MigrationPlan = {
    apiVersion: 'cloudtaser.io/v1',
    kind: 'MigrationPlan',
    metadata: {name: 'lab', cluster: {name: 'lab', fingerprint}},
    openbao: {address: 'https://openbao.example.eu:8200', kvMount: 'secret', authMount: 'kubernetes'},
    tenants: [],
  }
  for (const namespace of namespaces) {
    await core.createNamespace({body: {metadata: {name: namespace}}})
    const workloads: Workload[] = []
    for (let i = 0; i < perNamespace; i++) {
      const name = `svc-${i}`
      const secret = `${name}-db`
      const kind: Workload['kind'] = i === 1 ? 'StatefulSet' : i === 2 ? 'CronJob' : 'Deployment'
      const tpl = template(name, secret)
      // This lab has no node: a Pod would stay Pending and `--wait` (every Pod Ready) could not
      // finish. With zero replicas each controller still rolls a new revision of the template.
      if (kind === 'Deployment') {
        await apps.createNamespacedDeployment({namespace, body: {metadata: {name}, spec: {replicas: 0, selector: {matchLabels: {app: name}}, template: tpl}}})
      } else if (kind === 'StatefulSet') {
        await apps.createNamespacedStatefulSet({namespace, body: {metadata: {name}, spec: {serviceName: name, replicas: 0, selector: {matchLabels: {app: name}}, template: tpl}}})
      } else {
        tpl.spec!.restartPolicy = 'OnFailure'
        await batch.createNamespacedCronJob({namespace, body: {metadata: {name}, spec: {schedule: '0 3 * * *', jobTemplate: {spec: {template: tpl}}}}})
      }
      workloads.push({
        kind,
        name,
        serviceAccount: 'default',
        replicas: kind === 'CronJob' ? undefined : 0,
        secrets: [
          {source: {name: secret}, vaultPath: `secret/data/lab/${namespace}/${secret}`, fields: {password: 'DB_PASSWORD', username: 'DB_USER'}},
          {source: {name: `${secret}-api`}, vaultPath: `secret/data/lab/${namespace}/${secret}-api`, envFrom: {prefix: 'API_'}},
        ],
        status: {state: 'pending'},
      })
    }
    plan.tenants.push({name: namespace, namespace, policy: `cloudtaser-lab-${namespace}`, role: `cloudtaser-lab-${namespace}`, workloads})
  }
  return {namespaces, plan}
}

/** The pod templates of every fixture workload, keyed kind/namespace/name, for before/after comparisons. */
export async function templates(kc: KubeConfig, fixture: Fixture): Promise<Record<string, {template: unknown; generation?: number}>> {
  const apps = kc.makeApiClient(AppsV1Api)
  const batch = kc.makeApiClient(BatchV1Api)
  const out: Record<string, {template: unknown; generation?: number}> = {}
  for (const t of fixture.plan.tenants) {
    for (const w of t.workloads) {
      const ns = t.namespace
      const obj =
        w.kind === 'Deployment'
          ? await apps.readNamespacedDeployment({name: w.name, namespace: ns})
          : w.kind === 'StatefulSet'
            ? await apps.readNamespacedStatefulSet({name: w.name, namespace: ns})
            : await batch.readNamespacedCronJob({name: w.name, namespace: ns})
      const spec = obj.spec as {template?: unknown; jobTemplate?: {spec?: {template?: unknown}}}
      out[`${w.kind}/${ns}/${w.name}`] = {template: JSON.parse(JSON.stringify(spec.template ?? spec.jobTemplate?.spec?.template)), generation: obj.metadata?.generation}
    }
  }
  return out
}
