#!/usr/bin/env bash
# Prints the go.mod replace block pinning every k8s.io staging module to the v0.x release that
# matches k8s.io/kubernetes's version in go.mod. Paste it over the replace block in go.mod.
set -euo pipefail
cd "$(dirname "$0")"
export GOTOOLCHAIN=local
k8s=$(awk '$1 == "k8s.io/kubernetes" {print $2; exit}' go.mod)
staging="v0.${k8s#v1.}"
modfile=$(go mod download -json "k8s.io/kubernetes@$k8s" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
echo "replace ("
sed -n '/^replace/,/^)/p' "$modfile" | awk -v v="$staging" '$3 ~ /^\.\/staging/ {print "\t" $1 " => " $1 " " v}'
echo ")"
