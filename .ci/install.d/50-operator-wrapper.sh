#!/usr/bin/env bash
# Operator and wrapper tests: openssl (the webhook's in-memory PKI), binutils (strip before the
# SEA injection), a real OCI registry on loopback with htpasswd auth (docker-registry,
# apache2-utils), and the tools the test builds and pushes its image with (umoci, skopeo).
set -euo pipefail
need=()
for p in openssl binutils docker-registry apache2-utils umoci skopeo; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
fi
# The Debian package starts a registry on :5000 with auth from /etc/docker/registry; tests run
# their own on a free loopback port, so the system one is not needed.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker-registry 2>/dev/null; then systemctl stop docker-registry || true; fi
