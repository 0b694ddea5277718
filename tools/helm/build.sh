#!/usr/bin/env bash
# Prints the directory holding `helm`, `kubeconform` and `schemas/` (kubeconform's JSON schemas for
# the lab's Kubernetes release), building what is missing first. Both tools are upstream's own
# mains, pinned as `tool` directives in go.mod (helm.sh/helm/v4 brings k8s.io modules at v0.36+,
# so this module stays apart from test/env's v0.34 ones). The schemas come from the OpenAPI
# document inside the k8s.io/kubernetes module that test/env pins (kube-schemas.mjs): offline,
# and the same release as the lab's kube-apiserver.
# The cache key is a hash of this directory's sources; everything lives in
# <repo>/.cache/helm-tools/<key>/ (gitignored), the schemas under schemas/v<k8s>-standalone-strict.
# Parallel callers serialise on flock; outputs are written to temp names and renamed.
# Used by test/charts and .ci/install.d/70-chart.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache="$root/.cache/helm-tools"
key=$(cd "$here" && find . -maxdepth 1 -type f \( -name '*.go' -o -name '*.mjs' -o -name go.mod -o -name go.sum -o -name build.sh \) | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
dir="$cache/$key"
k8s=$(awk '$1 == "k8s.io/kubernetes" {print $2; exit}' "$root/test/env/go.mod")
schemas="$dir/schemas/$k8s-standalone-strict"
ready() { [ -x "$dir/helm" ] && [ -x "$dir/kubeconform" ] && [ -d "$schemas" ]; }
if ! ready; then
  mkdir -p "$dir"
  exec 9>"$dir/build.lock"
  flock 9
  export GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0
  if [ ! -x "$dir/helm" ] || [ ! -x "$dir/kubeconform" ]; then
    start=$(date +%s)
    echo "building helm and kubeconform ($key; the first build takes a few minutes)" >&2
    ver() { awk -v m="$1" '$1 == m {print $2; exit}' "$here/go.mod"; }
    helm_ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=$(ver helm.sh/helm/v4) -X helm.sh/helm/v4/internal/version.gitTreeState=clean -X helm.sh/helm/v4/internal/version.metadata="
    kc_ldflags="-s -w -X main.version=$(ver github.com/yannh/kubeconform)"
    (cd "$here" && go build -trimpath -ldflags="$helm_ldflags" -o "$dir/helm.tmp.$$" helm.sh/helm/v4/cmd/helm) >&2
    (cd "$here" && go build -trimpath -ldflags="$kc_ldflags" -o "$dir/kubeconform.tmp.$$" github.com/yannh/kubeconform/cmd/kubeconform) >&2
    mv "$dir/helm.tmp.$$" "$dir/helm"
    mv "$dir/kubeconform.tmp.$$" "$dir/kubeconform"
    echo "built helm and kubeconform in $(( $(date +%s) - start ))s" >&2
    find "$cache" -mindepth 1 -maxdepth 1 -type d ! -name "$key" -exec rm -rf {} +
  fi
  if [ ! -d "$schemas" ]; then
    # go.sum of test/env verifies the module; it is already in the module cache after 20-controlplane.sh.
    src=$(cd "$root/test/env" && go mod download -json k8s.io/kubernetes | awk -F'"' '$2 == "Dir" {print $4}')
    node "$here/kube-schemas.mjs" "$src/api/openapi-spec/swagger.json" "$schemas" >&2
  fi
fi
echo "$dir"
