import {base64Decode, base64Into, base64Length, escapeJsonInto, escapeJsonLength, JsonReader, SecretValues, wipe} from '../secret-bytes.js'
import {kubeError} from './errors.js'
import type {KubeHttp} from './http.js'

/**
 * Kubernetes Secrets with their values, for `target migrate` only. The response is read as bytes
 * (lib/secret-bytes.ts) and each value base64-decoded from it into a Buffer of its own; the
 * response buffer is then zero-filled. `kubectl.kubernetes.io/last-applied-configuration` (which
 * holds every value when the Secret was created by a client-side `kubectl apply`) is skipped
 * unread. Everything else goes through the typed client or lib/kube/http.ts as usual.
 */
export const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration'

export interface SecretMeta {
  namespace: string
  name: string
  uid: string
  resourceVersion: string
  type: string
  immutable?: boolean
  labels: Record<string, string>
  /** Every annotation except those in `skippedAnnotations`. */
  annotations: Record<string, string>
  /** Annotations present but not read (last-applied-configuration). */
  skippedAnnotations: string[]
}

export interface SecretWithValues extends SecretMeta {
  /** The caller wipes them (`values.wipe()`). */
  values: SecretValues
}

const secretPath = (namespace: string, name?: string): string =>
  `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets${name === undefined ? '' : `/${encodeURIComponent(name)}`}`

const failure = (status: number, bytes: Buffer, path: string, server: string) => {
  // A Status object: reason and message name the object, never a value.
  const err = kubeError({statusCode: status, body: bytes.toString('utf8'), path, server})
  bytes.fill(0)
  return err
}

/** undefined when there is no such Secret. */
export async function readSecretValues(http: KubeHttp, namespace: string, name: string): Promise<SecretWithValues | undefined> {
  const path = secretPath(namespace, name)
  const {status, bytes} = await http.send('GET', path)
  if (status === 404) {
    bytes.fill(0)
    return undefined
  }
  if (status !== 200) throw failure(status, bytes, path, http.server)
  const values = new SecretValues()
  try {
    return {...parseSecret(bytes, values), values}
  } catch (err) {
    values.wipe()
    throw err
  } finally {
    bytes.fill(0)
  }
}

function parseSecret(bytes: Buffer, values: SecretValues): SecretMeta {
  const r = new JsonReader(bytes)
  const meta: SecretMeta = {namespace: '', name: '', uid: '', resourceVersion: '', type: 'Opaque', labels: {}, annotations: {}, skippedAnnotations: []}
  r.object((top) => {
    if (top === 'metadata' && r.isObject()) {
      r.object((k) => {
        if (k === 'name' || k === 'namespace' || k === 'uid' || k === 'resourceVersion') meta[k] = String(r.scalar())
        else if (k === 'labels' && r.isObject()) meta.labels = r.stringMap().map
        else if (k === 'annotations' && r.isObject()) {
          const {map, skipped} = r.stringMap((key) => key === LAST_APPLIED)
          meta.annotations = map
          meta.skippedAnnotations = skipped
        } else r.skipValue()
      })
    } else if (top === 'type' && r.isString()) meta.type = r.string()
    else if (top === 'immutable') meta.immutable = r.scalar() === true ? true : undefined
    else if (top === 'data' && r.isObject()) {
      r.object((field) => {
        const encoded = r.stringValue()
        const value = base64Decode(encoded)
        encoded.fill(0)
        if (!value) throw new Error(`the Kubernetes API returned field "${field}" of a Secret not in base64`)
        values.set(field, value)
      })
    } else r.skipValue()
  })
  if (meta.immutable === undefined) delete meta.immutable
  return meta
}

export interface NewSecret {
  namespace: string
  name: string
  type?: string
  immutable?: boolean
  labels?: Record<string, string>
  annotations?: Record<string, string>
}

/**
 * The JSON body of a Secret as bytes: metadata through JSON.stringify (names, not values), each
 * value base64-encoded straight into the buffer. The caller wipes it.
 */
export function secretBody(secret: NewSecret, values: SecretValues): Buffer {
  const metadata = {
    name: secret.name,
    namespace: secret.namespace,
    ...(secret.labels && Object.keys(secret.labels).length > 0 ? {labels: secret.labels} : {}),
    ...(secret.annotations && Object.keys(secret.annotations).length > 0 ? {annotations: secret.annotations} : {}),
  }
  const head = Buffer.from(
    JSON.stringify({apiVersion: 'v1', kind: 'Secret', metadata, type: secret.type ?? 'Opaque', ...(secret.immutable ? {immutable: true} : {})}).slice(0, -1) + ',"data":{',
  )
  const names = values.names.map((n) => Buffer.from(n, 'utf8'))
  let size = head.length + 2
  names.forEach((n, i) => {
    size += (i > 0 ? 1 : 0) + 2 + escapeJsonLength(n) + 1 + 2 + base64Length(values.fields.get(values.names[i]!)!.length)
  })
  const out = Buffer.allocUnsafeSlow(size)
  let at = head.copy(out, 0)
  names.forEach((n, i) => {
    if (i > 0) out[at++] = 0x2c
    out[at++] = 0x22
    at = escapeJsonInto(n, out, at)
    out[at++] = 0x22
    out[at++] = 0x3a
    out[at++] = 0x22
    at = base64Into(values.fields.get(values.names[i]!)!, out, at)
    out[at++] = 0x22
  })
  out[at++] = 0x7d
  out[at++] = 0x7d
  return out.subarray(0, at)
}

/** Creates the Secret; 'exists' when one of that name is already there (nothing written). */
export async function createSecret(http: KubeHttp, secret: NewSecret, values: SecretValues): Promise<{uid: string; resourceVersion: string} | 'exists'> {
  const path = secretPath(secret.namespace)
  const body = secretBody(secret, values)
  try {
    const {status, bytes} = await http.send('POST', path, {body})
    if (status === 409) {
      bytes.fill(0)
      return 'exists'
    }
    if (status !== 201 && status !== 200) throw failure(status, bytes, path, http.server)
    // The created object echoes the values: only its identity is kept.
    const echoed = new SecretValues()
    try {
      const meta = parseSecret(bytes, echoed)
      return {uid: meta.uid, resourceVersion: meta.resourceVersion}
    } finally {
      echoed.wipe()
      bytes.fill(0)
    }
  } finally {
    wipe(body)
  }
}

/**
 * Deletes exactly the Secret that was checked: preconditions on UID and resourceVersion make the
 * apiserver refuse (409) if it was re-created or changed since. 'gone' when it no longer exists.
 */
export async function deleteSecret(http: KubeHttp, namespace: string, name: string, expect: {uid: string; resourceVersion: string}): Promise<'deleted' | 'gone' | 'changed'> {
  const path = secretPath(namespace, name)
  const body = Buffer.from(JSON.stringify({apiVersion: 'v1', kind: 'DeleteOptions', preconditions: {uid: expect.uid, resourceVersion: expect.resourceVersion}}))
  const {status, bytes} = await http.send('DELETE', path, {body})
  if (status === 200 || status === 202) {
    bytes.fill(0)
    return 'deleted'
  }
  if (status === 404 || status === 409) {
    bytes.fill(0)
    return status === 404 ? 'gone' : 'changed'
  }
  throw failure(status, bytes, path, http.server)
}
