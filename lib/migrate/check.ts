import type {KubeConfig} from '@kubernetes/client-node'
import {mapBounded} from '../bounded.js'
import type {KubeHttp} from '../kube/http.js'
import type {BaoClient} from '../openbao/bao-client.js'
import {readKvMetadata, type KvState} from '../openbao/kv-values.js'
import type {LoadedPlan} from '../plan/io.js'
import {RunDigest} from './digest.js'
import {compareWithKv, observeSource} from './observe.js'
import {openSession} from './session.js'
import {targetsOf, type Target} from './targets.js'
import {classify, DRIFT, expectedVersion, type CheckObserved, type CheckState} from './transform.js'

export interface CheckRow {
  namespace: string
  name: string
  vaultPath?: string
  state: CheckState
  drift: boolean
  /** Names and versions only. */
  detail?: string
}

export interface CheckResult {
  plan: string
  ok: boolean
  secrets: CheckRow[]
  counts: Partial<Record<CheckState, number>>
}

/**
 * `target migrate --check`: for every Secret of the plan, whether Kubernetes and OpenBao still
 * agree with what the plan recorded. Drift is a Secret re-created after finalize, a Secret whose
 * values changed in Kubernetes after the copy, or a path whose current KV version is gone.
 * Values are compared by digest only when the Secret changed since the copy (another UID or
 * resourceVersion); nothing is written.
 */
export async function checkMigration(options: {kc: KubeConfig; loaded: LoadedPlan; bao: BaoClient; actor: string; concurrency?: number; http?: KubeHttp}): Promise<CheckResult> {
  const session = await openSession(options, false)
  const digest = new RunDigest()
  try {
    const rows = await mapBounded(targetsOf(options.loaded.plan), options.concurrency ?? 8, (t) => checkOne(t, options.bao, session.http, digest))
    const counts: CheckResult['counts'] = {}
    for (const r of rows) counts[r.state] = (counts[r.state] ?? 0) + 1
    return {plan: options.loaded.file, ok: rows.every((r) => !r.drift), secrets: rows, counts}
  } finally {
    digest.destroy()
    await session.close()
  }
}

async function checkOne(t: Target, bao: BaoClient, http: KubeHttp, digest: RunDigest): Promise<CheckRow> {
  const row = (c: {state: CheckState; detail?: string}): CheckRow => ({
    namespace: t.namespace,
    name: t.name,
    ...(t.record ? {vaultPath: t.record.vaultPath} : t.unit ? {vaultPath: t.unit.vaultPath} : {}),
    state: c.state,
    drift: (DRIFT as Set<string>).has(c.state),
    ...(c.detail ? {detail: c.detail} : {}),
  })
  const record = t.record
  if (!record || !t.mount || !t.path) return row(classify(undefined, {kv: {state: 'missing'}}))
  const at = {mount: t.mount, path: t.path}
  const meta = await readKvMetadata(bao, at.mount, at.path)
  const current = meta?.currentVersion
  const v = current ? meta.versions[String(current)] : undefined
  const kv: CheckObserved['kv'] = {current, state: (!v ? 'missing' : v.destroyed ? 'destroyed' : v.deleted ? 'deleted' : 'ok') as KvState}
  const observed = await observeSource(http, t.namespace, t.name)
  try {
    const o: CheckObserved = {source: observed?.secret, kv}
    const unchanged = observed && record.state === 'copied' && observed.secret.uid === record.copy.sourceUid && observed.secret.resourceVersion === record.copy.sourceResourceVersion
    if (observed && !unchanged && record.state !== 'deleted' && kv.state === 'ok') {
      const base64 = record.base64Fields ?? []
      const expected = await compareWithKv(bao, digest, {...at, version: expectedVersion(record)}, observed.secret.values, base64)
      o.equalsExpected = expected.state === 'ok' && expected.equal === true
      o.differing = expected.differing
      if (!o.equalsExpected && current !== expectedVersion(record)) o.equalsCurrent = (await compareWithKv(bao, digest, at, observed.secret.values, base64)).equal === true
    }
    return row(classify(record, o))
  } finally {
    observed?.secret.values.wipe()
  }
}
