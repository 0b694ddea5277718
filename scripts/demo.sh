#!/usr/bin/env bash
# The main job. Until the cluster commands land, it validates and shows the example plans.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run -s build
cli() { node bin/run.js "$@"; }
cli version
cli plan validate examples/plans/*.yaml
for plan in examples/plans/*.yaml; do
  echo
  cli plan show "$plan"
done
