/**
 * Kubernetes' `$(NAME)` expansion of env values, command and args, byte for byte as the kubelet
 * does it (k8s.io/kubernetes third_party/forked/golang/expansion): `$(NAME)` becomes the value
 * `lookup` gives, or stays as written when it gives none; `$$` is an escaped `$`; `$(` without a
 * closing `)` and any other `$x` are literal. One scanner for discover (which names a command
 * reads) and for tests of the wrapper, which performs the same expansion once it has the secrets.
 */
export function expand(input: string, lookup: (name: string) => string | undefined): string {
  let out = ''
  let checkpoint = 0
  for (let cursor = 0; cursor < input.length; cursor++) {
    if (input[cursor] !== '$' || cursor + 1 >= input.length) continue
    out += input.slice(checkpoint, cursor)
    const next = input[cursor + 1]
    if (next === '$') {
      out += '$'
      cursor += 1
    } else if (next === '(') {
      const close = input.indexOf(')', cursor + 2)
      if (close < 0) {
        out += '$('
        cursor += 1
      } else {
        const name = input.slice(cursor + 2, close)
        out += lookup(name) ?? `$(${name})`
        cursor = close
      }
    } else {
      out += `$${next}`
      cursor += 1
    }
    checkpoint = cursor + 1
  }
  return out + input.slice(checkpoint)
}
