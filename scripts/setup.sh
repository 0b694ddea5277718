#!/usr/bin/env bash
# Installs everything cloudtaser's demo and tests need on a fresh machine, idempotently:
# npm packages (including a pinned Node 24, since the machine's Node 20 is end-of-life),
# then each component's own installer in .ci/install.d (Debian packages, pip, Go modules).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
npm ci --no-audit --no-fund
for step in .ci/install.d/*.sh; do
  [ -e "$step" ] || continue
  echo "== setup: $step"
  bash "$step"
done
echo "== setup done in $(( $(date +%s) - start ))s"
