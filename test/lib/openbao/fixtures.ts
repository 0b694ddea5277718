// Shared by the OpenBao tests: a two-tenant plan built with the plan types, the bao CLI, a client.
import {execFile} from 'node:child_process'
import {promisify} from 'node:util'
import {baoBinary} from '../../../lib/lab/index.js'
import {OpenBaoClient} from '../../../lib/openbao/client.js'
import {resolveConnection} from '../../../lib/openbao/config.js'
import type {MigrationPlan, Tenant} from '../../../lib/plan/types.generated.js'

const run = promisify(execFile)

/** Canary values: tests assert they never appear in any output of cloudtaser. */
export const CANARY = {alpha: 'canary-alpha-9d1f3e77c0', beta: 'canary-beta-4be2a1f0d5'}

const tenant = (name: string): Tenant => ({
  name,
  namespace: name,
  policy: `cloudtaser-lab-${name}`,
  role: `cloudtaser-lab-${name}`,
  workloads: [
    {
      kind: 'Deployment',
      name: 'api',
      serviceAccount: `${name}-api`,
      secrets: [
        {source: {name: 'db'}, vaultPath: `secret/data/lab/${name}/db`, fields: {username: 'DB_USER', password: 'DB_PASSWORD'}},
        {source: {name: 'env'}, vaultPath: `secret/data/lab/${name}/env`, envFrom: {prefix: 'APP_'}},
      ],
      status: {state: 'pending'},
    },
  ],
})

/** What discover would write for namespaces alpha and beta (discover is built in parallel). */
export function labPlan(authMount = 'kubernetes'): MigrationPlan {
  return {apiVersion: 'cloudtaser.io/v1', kind: 'MigrationPlan', metadata: {name: 'lab'}, openbao: {kvMount: 'secret', authMount}, tenants: [tenant('alpha'), tenant('beta')]}
}

/** The bao CLI, as an operator would run it to write values. */
export async function baoCli(addr: string, token: string, ...args: string[]): Promise<string> {
  const env = {...process.env, BAO_ADDR: addr, BAO_TOKEN: token, HOME: '/nonexistent'}
  const r = await run(baoBinary(), args, {env})
  return r.stdout
}

export async function writeValues(addr: string, token: string): Promise<void> {
  for (const name of ['alpha', 'beta'] as const) {
    await baoCli(addr, token, 'kv', 'put', `-mount=secret`, `lab/${name}/db`, `username=${name}-user`, `password=${CANARY[name]}`)
    await baoCli(addr, token, 'kv', 'put', `-mount=secret`, `lab/${name}/env`, `API_KEY=${CANARY[name]}`)
  }
}

export const clientFor = (addr: string, token: string) => new OpenBaoClient(resolveConnection({'openbao-addr': addr, token}, {}, '/nonexistent'))
