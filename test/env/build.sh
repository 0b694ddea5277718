#!/usr/bin/env bash
# Prints the path of the cloudtaser-controlplane binary, building it first when the Go sources,
# go.mod, go.sum or this script changed since the cached build. The cache key is a hash of those; the
# binary lives in <repo>/.cache/controlplane/<key>/ (gitignored). Parallel callers serialise on
# flock; a build writes to a temp name and renames, so nobody runs a half-written binary.
# Used by lib/lab (tests, `cloudtaser lab up`) and .ci/install.d/20-controlplane.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache="$root/.cache/controlplane"
key=$(cd "$here" && find . -maxdepth 1 -type f \( -name '*.go' -o -name go.mod -o -name go.sum -o -name build.sh \) | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
bin="$cache/$key/cloudtaser-controlplane"
if [ ! -x "$bin" ]; then
  mkdir -p "$cache/$key"
  exec 9>"$cache/$key/build.lock"
  flock 9
  if [ ! -x "$bin" ]; then
    start=$(date +%s)
    echo "building cloudtaser-controlplane ($key; the first build takes minutes)" >&2
    # Stamp the release version as upstream's build does, or /version says v0.0.0-master.
    k8s=$(awk '$1 == "k8s.io/kubernetes" {print $2; exit}' "$here/go.mod")
    minor=${k8s#v1.}; minor=${minor%%.*}
    ldflags="-s -w"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldflags+=" -X $pkg.gitVersion=$k8s -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
    done
    (cd "$here" && GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0 \
      go build -trimpath -ldflags="$ldflags" -o "$bin.tmp.$$" .) >&2
    mv "$bin.tmp.$$" "$bin"
    echo "built cloudtaser-controlplane in $(( $(date +%s) - start ))s" >&2
    # Older builds are 120 MB each and never used again.
    find "$cache" -mindepth 1 -maxdepth 1 -type d ! -name "$key" -exec rm -rf {} +
  fi
fi
echo "$bin"
