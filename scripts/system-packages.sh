#!/usr/bin/env bash
# Installs the Debian packages of the SMPP peers the interop tests run against:
# Kannel (bearerbox, smsbox) and the Perl library Net::SMPP. Idempotent: does
# nothing when they are there. Without root or apt-get it says what is missing,
# and the tests that need it skip themselves; that is not an error.
set -euo pipefail

packages=(kannel libnet-smpp-perl)

installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = "installed" ]
}

missing=()
if command -v dpkg-query >/dev/null; then
  for package in "${packages[@]}"; do
    installed "$package" || missing+=("$package")
  done
else
  missing=("${packages[@]}")
fi
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "system-packages: ${missing[*]} not installed (needs root and apt-get); the Kannel and Net::SMPP interop tests will be skipped"
  exit 0
fi

# Kannel's package starts a bearerbox service when it is installed; the tests start
# their own, so forbid starting services for the length of the install (policy-rc.d,
# the Debian way), and put back whatever policy was there before.
policy=/usr/sbin/policy-rc.d
saved=""
if [ -e "$policy" ]; then
  saved="$(mktemp)"
  cp -p "$policy" "$saved"
fi
restore_policy() {
  if [ -n "$saved" ]; then
    mv -f "$saved" "$policy"
  else
    rm -f "$policy"
  fi
}
trap restore_policy EXIT
printf '#!/bin/sh\n# system-packages.sh: no services started during this install\nexit 101\n' >"$policy"
chmod 755 "$policy"

export DEBIAN_FRONTEND=noninteractive
install_missing() {
  apt-get install -y -q --no-install-recommends "${missing[@]}"
}
# Refresh the package lists only when the install cannot go ahead without it.
if ! install_missing; then
  apt-get update -q
  install_missing
fi

# In case a service got started anyway (an init that ignores policy-rc.d).
if command -v service >/dev/null && [ -x /etc/init.d/kannel ]; then
  service kannel stop >/dev/null 2>&1 || true
fi
echo "system-packages: installed ${missing[*]}"
