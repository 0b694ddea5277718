#!/usr/bin/env bash
# Puts Debian's stock kernel (the one linux-image-amd64 points at) into a cache dir,
# without installing it: installing a kernel package in a container runs boot hooks
# we do not want. Also writes vmlinux.h from that kernel's own BTF, so the BPF
# programs are compiled against the kernel the VM tests boot. Keeps the e1000 NIC
# driver (a module in Debian's kernel) so the VM can reach a server on the host.
# Usage: fetch-kernel.sh CACHE_DIR   (idempotent; prints the cache dir)
set -euo pipefail
cache=${1:?usage: fetch-kernel.sh CACHE_DIR}
mkdir -p "$cache"
cd "$cache"
if [ -s vmlinuz ] && [ -s vmlinux.h ] && [ -s config ] && [ -s e1000.ko ]; then
  echo "$cache"; exit 0
fi
pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
[ -n "$pkg" ] || { echo "fetch-kernel: no linux-image-amd64 in apt lists (run apt-get update)" >&2; exit 1; }
rm -rf extract ./*.deb
# apt-get download as root warns about the _apt sandbox; harmless.
apt-get download "$pkg" 2>&1 | grep -v 'unsandboxed' >&2 || true
deb=$(ls ./*.deb)
mkdir extract
dpkg-deb -x "$deb" extract
cp extract/boot/vmlinuz-* vmlinuz.tmp
cp extract/boot/config-* config
# No dependencies (modinfo: depends=), uncompressed (CONFIG_MODULE_COMPRESS_NONE): busybox insmod loads it.
find extract/lib/modules -name e1000.ko -exec cp {} e1000.ko.tmp \;
[ -s e1000.ko.tmp ] || { echo "fetch-kernel: $pkg has no e1000.ko" >&2; exit 1; }
mv e1000.ko.tmp e1000.ko
grep -q '^CONFIG_BPF_LSM=y' config || { echo "fetch-kernel: $pkg lacks CONFIG_BPF_LSM" >&2; exit 1; }
# The bzImage payload is xz (CONFIG_KERNEL_XZ); find the stream and inflate it for its BTF.
off=$(grep -abo $'\xfd7zXZ\x00' vmlinuz.tmp | head -1 | cut -d: -f1)
tail -c +$((off + 1)) vmlinuz.tmp | xz -dc 2>/dev/null > vmlinux.tmp || true
bpftool btf dump file vmlinux.tmp format c > vmlinux.h.tmp
mv vmlinux.h.tmp vmlinux.h
echo "$pkg $(dpkg-deb -f "$deb" Version)" > version
rm -rf extract vmlinux.tmp "$deb"
mv vmlinuz.tmp vmlinuz
echo "$cache"
