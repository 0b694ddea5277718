#!/usr/bin/env bash
# Prints the directory holding `helm` and `kubeconform`, building them first when go.mod, go.sum or
# this script changed since the cached build. Both are upstream's own mains, pinned as `tool`
# directives in go.mod (helm.sh/helm/v4 brings k8s.io modules at v0.36, so this module is kept
# apart from test/env's v0.34 ones). The cache key is a hash of those files; the binaries live in
# <repo>/.cache/helm-tools/<key>/ (gitignored). Parallel callers serialise on flock; each binary
# is written to a temp name and renamed. Used by test/charts and .ci/install.d/70-chart.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache="$root/.cache/helm-tools"
key=$(cd "$here" && find . -maxdepth 1 -type f \( -name '*.go' -o -name go.mod -o -name go.sum -o -name build.sh \) | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
dir="$cache/$key"
if [ ! -x "$dir/helm" ] || [ ! -x "$dir/kubeconform" ]; then
  mkdir -p "$dir"
  exec 9>"$dir/build.lock"
  flock 9
  if [ ! -x "$dir/helm" ] || [ ! -x "$dir/kubeconform" ]; then
    start=$(date +%s)
    echo "building helm and kubeconform ($key; the first build takes a few minutes)" >&2
    ver() { awk -v m="$1" '$1 == m {print $2; exit}' "$here/go.mod"; }
    helm_ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=$(ver helm.sh/helm/v4) -X helm.sh/helm/v4/internal/version.gitTreeState=clean -X helm.sh/helm/v4/internal/version.metadata="
    kc_ldflags="-s -w -X main.version=$(ver github.com/yannh/kubeconform)"
    export GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0
    (cd "$here" && go build -trimpath -ldflags="$helm_ldflags" -o "$dir/helm.tmp.$$" helm.sh/helm/v4/cmd/helm) >&2
    (cd "$here" && go build -trimpath -ldflags="$kc_ldflags" -o "$dir/kubeconform.tmp.$$" github.com/yannh/kubeconform/cmd/kubeconform) >&2
    mv "$dir/helm.tmp.$$" "$dir/helm"
    mv "$dir/kubeconform.tmp.$$" "$dir/kubeconform"
    echo "built helm and kubeconform in $(( $(date +%s) - start ))s" >&2
    find "$cache" -mindepth 1 -maxdepth 1 -type d ! -name "$key" -exec rm -rf {} +
  fi
fi
echo "$dir"
