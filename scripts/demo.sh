#!/usr/bin/env bash
# The main job: the whole plan workflow on the local lab (see scripts/demo.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."
npm run -s build
exec node scripts/demo.mjs "$@"
