#!/usr/bin/env bash
# Boots Debian's stock kernel with the test initramfs and streams the serial
# console to stdout. Usage: run-vm.sh TEST [extra kernel args]
#   TEST: matrix | bench
# Env: CT_EBPF_BUILD (default runtime/ebpf/build), CT_EBPF_KERNEL_CACHE
# (default .cache/ebpf-kernel), CT_QEMU_ACCEL (tcg | kvm | auto; default tcg,
# software emulation as in CI), CT_VM_TIMEOUT seconds (default 300), CT_VM_NET=user
# (an e1000 NIC on QEMU's user network: the guest reaches the host's 127.0.0.1 as
# 10.0.2.2, for the wrapper rows' OpenBao).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${CT_EBPF_BUILD:-$here/../build}
cache=${CT_EBPF_KERNEL_CACHE:-$here/../../../.cache/ebpf-kernel}
test=${1:-matrix}
shift || true
accel=${CT_QEMU_ACCEL:-tcg}
if [ "$accel" = auto ]; then
  if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then accel=kvm; else accel=tcg; fi
fi
cpu=max
[ "$accel" = kvm ] && cpu=host
# Debian's CONFIG_LSM already lists bpf; passing lsm= explicitly keeps the test
# honest if a future kernel's default drops it.
net=()
[ "${CT_VM_NET:-}" = user ] && net=(-nic user,model=e1000)
append="console=ttyS0 quiet panic=-1 lsm=landlock,lockdown,yama,apparmor,bpf ct.test=$test $*"
exec timeout --foreground -k 5 "${CT_VM_TIMEOUT:-300}" qemu-system-x86_64 \
  -accel "$accel" -cpu "$cpu" -m 512 -smp 1 \
  -kernel "$cache/vmlinuz" -initrd "$build/initramfs.cpio.gz" \
  -append "$append" \
  -display none -monitor none -serial stdio -no-reboot -nodefaults "${net[@]}"
