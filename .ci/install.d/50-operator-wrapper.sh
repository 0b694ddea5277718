#!/usr/bin/env bash
# Operator: openssl makes the webhook's CA and serving certificate at every start (tests too).
# Wrapper tests: util-linux (unshare, setpriv, prlimit), binutils (readelf: no PT_INTERP, no
# NEEDED), gcc + libc6-dev (the glibc test app); the Rust toolchain is 55-wrapper-rust.sh.
# Registry tests: a real OCI registry on loopback with htpasswd auth (docker-registry,
# apache2-utils), and the tools the test builds and pushes its image with (umoci, skopeo).
# debootstrap: the Debian minbase rootfs the wrapper is proven in as PID 1.
set -euo pipefail
source "$(dirname "$0")/../apt-need.sh"
apt_need openssl util-linux binutils gcc libc6-dev docker-registry apache2-utils umoci skopeo debootstrap
# The Debian package may start a registry on :5000; tests run their own on a free loopback port.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker-registry 2>/dev/null; then systemctl stop docker-registry || true; fi
echo "50-operator-wrapper: $(openssl version), $(prlimit --version), docker-registry $(docker-registry --version 2>/dev/null | awk '{print $3}'), $(skopeo --version)"
