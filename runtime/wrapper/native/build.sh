#!/usr/bin/env bash
# Builds the wrapper's N-API addon (plain C, no node-gyp, no Node or OpenSSL headers) into OUT_FILE.
# Used by build-sea.sh (the addon travels inside the single executable) and by the tests.
# Usage: runtime/wrapper/native/build.sh OUT_FILE
set -euo pipefail
out="${1:?usage: build.sh OUT_FILE}"
gcc -O2 -Wall -Wextra -Werror -shared -fPIC -pthread -o "$out" "$(dirname "$0")/addon.c" "$(dirname "$0")/http.c"
