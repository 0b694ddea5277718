import {base64Decode, base64Encode, isText, SecretValues} from '../secret-bytes.js'

/**
 * How a Kubernetes value is held in a KV v2 field, whose values are JSON text: UTF-8 text as it
 * is; anything else (binary: keystores, DER certificates, compressed data) base64-encoded, the
 * field then listed in the plan's `base64Fields` so delivery and rollback decode it back.
 */
export function toKv(values: SecretValues): {kv: SecretValues; base64Fields: string[]} {
  const kv = new SecretValues()
  const base64Fields: string[] = []
  for (const name of values.names) {
    const v = values.fields.get(name)!
    if (isText(v)) kv.fields.set(name, v) // shared: wiping either wipes both
    else {
      kv.fields.set(name, base64Encode(v))
      base64Fields.push(name)
    }
  }
  return {kv, base64Fields}
}

/**
 * The bytes a KV read stands for: `base64Fields` decoded. A field that should be base64 and is
 * not stays as read (it then differs from any Kubernetes value it is compared with).
 */
export function fromKv(read: SecretValues, base64Fields: readonly string[]): SecretValues {
  const out = new SecretValues()
  for (const name of read.names) {
    const v = read.fields.get(name)!
    const decoded = base64Fields.includes(name) ? base64Decode(v) : undefined
    out.fields.set(name, decoded ?? v)
  }
  return out
}

/** The fields of `values` that are not UTF-8 text (those toKv encodes). */
export const binaryFields = (values: SecretValues): string[] => values.names.filter((n) => !isText(values.fields.get(n)!))
