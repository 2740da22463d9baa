#!/usr/bin/env bash
# Installs the Debian packages named in the given list files that are not installed yet.
# Usage: scripts/install-packages.sh docker/packages.txt [docker/packages-test.txt ...]
set -euo pipefail

missing=()
for list in "$@"; do
  while read -r pkg; do
    [[ -z "$pkg" || "$pkg" == \#* ]] && continue
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done < "$list"
done

if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "installing: ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
# Debian's service scripts would start clamd/freshclam/redis on their default ports; the
# appliance and the tests run their own instances, so nothing is started at install time.
printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
$sudo chmod +x /usr/sbin/policy-rc.d
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
$sudo rm -f /usr/sbin/policy-rc.d
