#!/usr/bin/env bash
# Beacon: openssl makes the test certificates at test time; socat is the baseline relay the
# benchmark (npm run bench:beacon) measures the beacon against. Both from Debian.
set -euo pipefail
missing=()
for p in socat openssl; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "40-beacon: $(socat -V | sed -n 2p), $(openssl version)"
