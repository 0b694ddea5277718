#!/usr/bin/env bash
# The S3 proxy's tests and bench: the test S3 server (versitygw over its POSIX backend, built from
# Go modules by test/s3/build.sh) and the AWS CLI (PyPI awscli) in the project virtualenv.
# Idempotent; a warm run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/../.."
AWSCLI_VERSION=1.46.3
t0=$(date +%s)
if ! command -v go >/dev/null; then
  echo "60-s3-proxy: Go is not on PATH; the test S3 server needs Go >= $(awk '$1 == "go" {print $2}' test/s3/go.mod)" >&2
  exit 1
fi
(cd test/s3 && GOTOOLCHAIN=local GOFLAGS=-mod=mod go mod download)
bin=$(bash test/s3/build.sh)
t1=$(date +%s)
# The venv is made by 20-controlplane.sh (OpenBao); the AWS CLI goes next to it.
if ! .venv/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('awscli') != '$AWSCLI_VERSION')" 2>/dev/null; then
  .venv/bin/pip install --quiet --disable-pip-version-check "awscli==$AWSCLI_VERSION"
fi
t2=$(date +%s)
echo "60-s3-proxy: $bin; $(.venv/bin/aws --version 2>&1)"
echo "60-s3-proxy: s3 server $((t1 - t0))s, awscli $((t2 - t1))s"
