#!/usr/bin/env bash
# The Helm chart's checks (test/charts): helm and kubeconform built from Go modules (tools/helm),
# and kubeconform's schemas for the lab's Kubernetes release generated offline from the OpenAPI
# document in the k8s.io/kubernetes module (after 20-controlplane.sh, which downloads it).
# Cached in .cache/helm-tools/<key>; a warm run takes a second.
set -euo pipefail
cd "$(dirname "$0")/../.."
t0=$(date +%s)
if ! command -v go >/dev/null; then
  echo "70-chart: Go is not on PATH; helm and kubeconform need Go >= $(awk '$1 == "go" {print $2}' tools/helm/go.mod)" >&2
  exit 1
fi
(cd tools/helm && GOTOOLCHAIN=local GOFLAGS=-mod=mod go mod download)
dir=$(bash tools/helm/build.sh)
echo "70-chart: $("$dir/helm" version --short), kubeconform $("$dir/kubeconform" -v), schemas $(ls "$dir/schemas"), $(( $(date +%s) - t0 ))s"
