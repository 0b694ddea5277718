#!/usr/bin/env bash
# npm run bench:beacon: 10,000 waiting connections need more descriptors than the default.
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
# The bench imports the compiled runtime; rebuild when a beacon source is newer than its output.
if [ ! -f dist/runtime/beacon/server.js ] || [ -n "$(find runtime/beacon -name '*.ts' -newer dist/runtime/beacon/server.js)" ]; then
  npx tsc -p tsconfig.build.json >/dev/null || [ -f dist/runtime/beacon/server.js ]
fi
command -v socat >/dev/null || { echo "socat missing: run .ci/install.d/40-beacon.sh" >&2; exit 1; }
NODE=node_modules/.bin/node; [ -x "$NODE" ] || NODE=node
exec "$NODE" bench/beacon.mjs "$@"
