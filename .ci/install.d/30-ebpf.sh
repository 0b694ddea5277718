#!/usr/bin/env bash
# eBPF agent: toolchain to build the BPF programs and the static agent, and a
# QEMU + Debian stock kernel to test BPF-LSM enforcement (the CI host's own
# kernel may refuse LSM programs). The kernel is extracted into a cache dir,
# not installed: installing linux-image-* in a container runs boot hooks.
set -euo pipefail
source "$(dirname "$0")/../apt-need.sh"
cd "$(dirname "$0")/../.."
pkgs=(clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev gcc make libc6-dev
      qemu-system-x86 busybox-static cpio xz-utils)
apt_need "${pkgs[@]}"
# apt lists are needed for apt-get download even when nothing was missing
[ -n "$(ls /var/lib/apt/lists/ 2>/dev/null | grep -v lock)" ] || apt-get update -qq
runtime/ebpf/vm/fetch-kernel.sh "$PWD/.cache/ebpf-kernel" >/dev/null
make -s -C runtime/ebpf all
echo "30-ebpf: agent built at runtime/ebpf/build/cloudtaser-ebpf-agent, kernel $(cat .cache/ebpf-kernel/version)"
