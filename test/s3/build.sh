#!/usr/bin/env bash
# Prints the path of the test S3 server binary (versitygw, see main.go), building it first when
# main.go, go.mod, go.sum or this script changed since the cached build. The cache key is a hash of
# those; the binary lives in <repo>/.cache/s3-server/<key>/ (gitignored). Parallel callers serialise
# on flock; a build writes to a temp name and renames. Used by lib/s3-server and
# .ci/install.d/60-s3-proxy.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache="$root/.cache/s3-server"
key=$(cd "$here" && find . -maxdepth 1 -type f \( -name '*.go' -o -name go.mod -o -name go.sum -o -name build.sh \) | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
bin="$cache/$key/cloudtaser-s3-server"
if [ ! -x "$bin" ]; then
  mkdir -p "$cache/$key"
  exec 9>"$cache/$key/build.lock"
  flock 9
  if [ ! -x "$bin" ]; then
    start=$(date +%s)
    echo "building cloudtaser-s3-server ($key; the first build takes a few minutes)" >&2
    (cd "$here" && GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0 \
      go build -trimpath -ldflags="-s -w" -o "$bin.tmp.$$" .) >&2
    mv "$bin.tmp.$$" "$bin"
    echo "built cloudtaser-s3-server in $(( $(date +%s) - start ))s" >&2
    find "$cache" -mindepth 1 -maxdepth 1 -type d ! -name "$key" -exec rm -rf {} +
  fi
fi
echo "$bin"
