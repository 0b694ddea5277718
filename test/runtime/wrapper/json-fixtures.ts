// Secret values that stress a JSON string decoder, shared by the scanner and addon tests.

// Go's encoder (OpenBao) escapes <, >, & and U+2028/9; JSON allows \/ and any \uXXXX.
export const tricky: Record<string, string> = {
  plain: 'p@ss w0rd',
  quote: 'say "hi" \\ back',
  controls: 'a\nb\tc\rd\be\ff',
  html: '<script>&amp;</script>',
  latin: 'héllo wörld',
  astral: 'emoji 😀 and 𝄞',
  lineSep: 'x\u2028y\u2029z',
  empty: '',
}
export const rawEscaped: Record<string, string> = {
  // Written as JSON text by hand: escapes JSON.stringify would not produce.
  slash: '"a\\/b"',
  uLower: '"\\u00e9\\u00E9"',
  pair: '"\\ud83d\\ude00!"',
  loneHigh: '"x\\ud800y"',
  loneLow: '"x\\udc00y"',
  highThenBmp: '"\\ud83d\\u0041"',
  highAtEnd: '"end\\ud83d"',
}
