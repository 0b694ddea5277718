#!/usr/bin/env bash
# Builds the static wrapper (x86_64-unknown-linux-musl: no loader, no shared library) and prints
# the executable's path. Cargo caches: a build with nothing changed takes well under a second.
# `--test` runs the crate's unit tests first (npm test does). ring's C parts need a musl C
# compiler: Debian's musl-tools, installed with the target by .ci/install.d/55-wrapper-rust.sh.
set -euo pipefail
cd "$(dirname "$0")"
command -v cargo >/dev/null || export PATH="$HOME/.cargo/bin:$PATH"
export CC_x86_64_unknown_linux_musl="${CC_x86_64_unknown_linux_musl:-musl-gcc}"
if [ "${1:-}" = --test ]; then cargo test --locked --quiet >&2; fi
cargo build --release --locked --quiet --target x86_64-unknown-linux-musl
echo "$PWD/target/x86_64-unknown-linux-musl/release/cloudtaser-wrapper"
