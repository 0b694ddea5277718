# Sourced by the .ci/install.d steps. `apt_need PKG...` installs the Debian packages that are not
# installed yet, and runs nothing when all are (a warm setup stays quick). With
# APT_NO_SERVICES=1, packages install without starting their services system-wide (the lab runs
# its own containerd, registry and redis in its own directories).
apt_need() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  echo "installing ${missing[*]}"
  apt-get update -qq
  local guard=""
  if [ "${APT_NO_SERVICES:-}" = 1 ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    guard=/usr/sbin/policy-rc.d
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" || { [ -z "$guard" ] || rm -f "$guard"; return 1; }
  [ -z "$guard" ] || rm -f "$guard"
}
