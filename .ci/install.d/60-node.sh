#!/usr/bin/env bash
# The lab's node (lib/lab/node.ts, `cloudtaser lab up`): container runtime, CNI plugins, the OCI
# registry Pods pull from, the tools that put images into it, and what the lab's images are made
# of (busybox-static for the base image, redis for the demo, gcc for the pause binary).
# Idempotent: apt-get runs only when a package is missing.
set -euo pipefail
packages=(containerd runc containernetworking-plugins iptables iproute2 docker-registry skopeo
  busybox-static redis-server redis-tools gcc libc6-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "60-node: installing ${missing[*]}"
  apt-get update -qq
  # No services: Debian's postinst would start containerd, docker-registry and redis system-wide;
  # the lab runs its own instances in its own directories.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "60-node: $(containerd --version | cut -d' ' -f1-3); $(runc --version | head -1); $(docker-registry --version 2>&1 | head -1); $(skopeo --version)"
