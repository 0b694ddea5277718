#!/usr/bin/env bash
# Beacon: openssl makes the test certificates at test time; socat is the baseline relay the
# benchmark (npm run bench:beacon) measures the beacon against. Both from Debian.
set -euo pipefail
source "$(dirname "$0")/../apt-need.sh"
apt_need socat openssl
echo "40-beacon: $(socat -V | sed -n 2p), $(openssl version)"
