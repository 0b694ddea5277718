#!/usr/bin/env bash
# The lab's node (lib/lab/node.ts, `cloudtaser lab up`): container runtime, CNI plugins, the OCI
# registry Pods pull from, the tools that put images into it, and what the lab's images are made
# of (busybox-static for the base image, redis for the demo, gcc for the pause binary, curl for
# the S3 sidecar's test client).
# Idempotent: apt-get runs only when a package is missing.
set -euo pipefail
source "$(dirname "$0")/../apt-need.sh"
packages=(containerd runc containernetworking-plugins iptables iproute2 docker-registry skopeo
  busybox-static redis-server redis-tools gcc libc6-dev curl)
APT_NO_SERVICES=1 apt_need "${packages[@]}"
echo "60-node: $(containerd --version | cut -d' ' -f1-3); $(runc --version | head -1); $(docker-registry --version 2>&1 | head -1); $(skopeo --version)"
