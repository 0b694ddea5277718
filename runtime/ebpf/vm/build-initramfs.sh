#!/usr/bin/env bash
# Packs the test VM's initramfs: busybox-static, the static agent, the static
# wrapper, the test programs, the e1000 driver, and vm/init.sh as /init. Usage: build-initramfs.sh BUILD_DIR OUT
set -euo pipefail
build=${1:?} out=${2:?}
here=$(cd "$(dirname "$0")" && pwd)
busybox=$(command -v busybox || true)
# busybox-static; the dynamic busybox package would find no libc in the VM.
[ -n "$busybox" ] && ! ldd "$busybox" >/dev/null 2>&1 \
  || { echo "build-initramfs: need busybox-static (apt-get install busybox-static)" >&2; exit 1; }
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
chmod 0755 "$stage" # mktemp made it 0700: it becomes /, which the non-root rows must traverse
mkdir -p "$stage"/{bin,dev,etc,proc,sys,tmp,run,lib}
cp "$busybox" "$stage/bin/busybox"
for b in cloudtaser-ebpf-agent cloudtaser-wrapper victim attack bench; do
  install -m 0755 "$build/$b" "$stage/bin/$b"
done
install -m 0644 "$build/e1000.ko" "$stage/lib/e1000.ko"
# A non-root user for the wrapper rows (busybox su reads these).
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/tmp:/bin/sh\n' > "$stage/etc/passwd"
printf 'root:x:0:\napp:x:1000:\n' > "$stage/etc/group"
install -m 0755 "$here/init.sh" "$stage/init"
ln -s busybox "$stage/bin/sh"
ln -s busybox "$stage/bin/true"
# The kernel opens /dev/console before /init runs; without the node early output is lost.
mknod -m 600 "$stage/dev/console" c 5 1 2>/dev/null || true
(cd "$stage" && find . -print0 | cpio --null -o -H newc --quiet --owner=0:0) | gzip -1 > "$out.tmp"
mv "$out.tmp" "$out"
