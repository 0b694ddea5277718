// The few S3 XML documents the proxy reads or rewrites (UploadId, parts, listings) are flat and
// machine-written; element text is all it needs, so no XML parser dependency.
const unescape = (s: string): string =>
  s.replace(/&(lt|gt|amp|quot|apos|#(\d+)|#x([0-9a-fA-F]+));/g, (_, name: string, dec?: string, hex?: string) =>
    dec ? String.fromCodePoint(Number(dec)) : hex ? String.fromCodePoint(parseInt(hex, 16)) : ({lt: '<', gt: '>', amp: '&', quot: '"', apos: "'"} as Record<string, string>)[name]!,
  )

export const xmlEscape = (s: string): string => s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`)

/** The unescaped text of the first <tag> element. */
export function xmlText(xml: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(xml)
  return m ? unescape(m[1]!) : undefined
}

/** The raw inner XML of every <tag> element. */
export function xmlAll(xml: string, tag: string): string[] {
  return [...xml.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => m[1]!)
}
