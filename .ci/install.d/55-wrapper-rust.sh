#!/usr/bin/env bash
# Wrapper (runtime/wrapper, Rust): the musl target makes it one static executable that starts in
# any image (musl, glibc, FROM scratch). Debian's musl-tools (musl-gcc) compiles ring's C parts for
# that target and the musl test apps; musl brings the loader the musl-only test rootfs uses.
set -euo pipefail
command -v rustup >/dev/null || export PATH="$HOME/.cargo/bin:$PATH"
rustup target list --installed | grep -qx x86_64-unknown-linux-musl || rustup target add x86_64-unknown-linux-musl
missing=()
for p in musl musl-tools musl-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "55-wrapper-rust: $(rustc --version), target x86_64-unknown-linux-musl, $(musl-gcc --version | head -1)"
