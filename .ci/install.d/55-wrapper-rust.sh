#!/usr/bin/env bash
# Wrapper (runtime/wrapper, Rust): the musl target makes it one static executable that starts in
# any image (musl, glibc, FROM scratch). Debian's musl-tools (musl-gcc) compiles ring's C parts for
# that target and the musl test apps; musl brings the loader the musl-only test rootfs uses.
set -euo pipefail
source "$(dirname "$0")/../apt-need.sh"
command -v rustup >/dev/null || export PATH="$HOME/.cargo/bin:$PATH"
rustup target list --installed | grep -qx x86_64-unknown-linux-musl || rustup target add x86_64-unknown-linux-musl
apt_need musl musl-tools musl-dev
echo "55-wrapper-rust: $(rustc --version), target x86_64-unknown-linux-musl, $(musl-gcc --version | head -1)"
