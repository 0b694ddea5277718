#!/usr/bin/env bash
# Operator: openssl makes the webhook's CA and serving certificate at every start (tests too).
# Wrapper: util-linux's prlimit sets RLIMIT_CORE 0 (node has no setrlimit).
set -euo pipefail
missing=()
command -v openssl >/dev/null || missing+=(openssl)
command -v prlimit >/dev/null || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "50-operator-wrapper: $(openssl version), $(prlimit --version)"
