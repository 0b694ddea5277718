#!/usr/bin/env bash
# Builds the wrapper as one self-contained executable (Node single executable application), so it
# runs in application images that have no Node: esbuild bundles entry.ts and its dependencies
# (undici, lib/openbao) into one CommonJS file, gcc builds the N-API addon (an embedded asset), Node makes the SEA blob, postject injects it into
# a copy of the node binary. Strip BEFORE injecting (stripping after corrupts the blob).
# Usage: runtime/wrapper/build-sea.sh [OUT_DIR]   (default dist/wrapper; prints the executable's path)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-$root/dist/wrapper}"
node="$root/node_modules/.bin/node"
mkdir -p "$out"
"$root/node_modules/.bin/esbuild" "$root/runtime/wrapper/entry.ts" --bundle --platform=node --target=node24 --format=cjs \
  --minify --legal-comments=none --log-level=warning --outfile="$out/wrapper.cjs"
# The N-API addon (hardening, orphan reaping, secret store, native spawn) travels inside as an asset.
"$root/runtime/wrapper/native/build.sh" "$out/cloudtaser-native.node"
cat >"$out/sea-config.json" <<JSON
{"main": "$out/wrapper.cjs", "output": "$out/wrapper.blob", "disableExperimentalSEAWarning": true, "useCodeCache": true, "useSnapshot": false,
 "assets": {"cloudtaser-native.node": "$out/cloudtaser-native.node"}}
JSON
"$node" --experimental-sea-config "$out/sea-config.json" >/dev/null
real_node="$("$node" -p process.execPath)"
cp "$real_node" "$out/cloudtaser-wrapper"
chmod u+w "$out/cloudtaser-wrapper"
strip --strip-all "$out/cloudtaser-wrapper" 2>/dev/null || true
"$root/node_modules/.bin/postject" "$out/cloudtaser-wrapper" NODE_SEA_BLOB "$out/wrapper.blob" \
  --sentinel-fuse NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2 >/dev/null
rm -f "$out/wrapper.blob" "$out/sea-config.json" "$out/cloudtaser-native.node"
echo "$out/cloudtaser-wrapper"
