#!/usr/bin/env bash
# Writes the documented development signature set into a ClamAV database folder, as an
# unsigned daily.cud with a version number, so that clamd's VERSION names it like an official
# daily database (results are cached per database version, and an update is a new version):
#   clam.exe by MD5 (every wrapper in Debian's clamav-testfiles unpacks to it)
#   the EICAR test string anywhere in a file
#   plus the .ndb lines of EXTRA_NDB, if given (to test a definitions update)
# These detect test files only. Production runs on freshclam's official databases.
# Usage: scripts/make-test-definitions.sh DB_DIR [VERSION] [EXTRA_NDB]
set -euo pipefail
db_dir=${1:?usage: make-test-definitions.sh DB_DIR [VERSION] [EXTRA_NDB]}
version=${2:-1}
extra=${3:-}
clam_exe=/usr/share/clamav-testfiles/clam.exe
[[ -r "$clam_exe" ]] || { echo "missing $clam_exe: install clamav-testfiles" >&2; exit 1; }
mkdir -p "$db_dir"
db_dir=$(cd "$db_dir" && pwd)
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
cd "$build"
mkdir empty
sigtool --md5 "$clam_exe" > daily.hdb
# EICAR is assembled from two halves so that no file in the repository holds the string.
# shellcheck disable=SC2016 # the $ signs are part of the test string
eicar_hex=$(printf '%s%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$' 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' | od -An -v -tx1 | tr -d ' \n')
echo "Test.EICAR:0:*:${eicar_hex}" > daily.ndb
if [[ -n "$extra" ]]; then cat "$extra" >> daily.ndb; fi
echo "medical-scan-daemon test definitions" > COPYING
echo "medical-scan-daemon-test" | sigtool --build=daily.cud --unsigned --cvd-version="$version" --datadir="$build/empty" >/dev/null 2>&1 \
  || { echo "sigtool could not build daily.cud" >&2; exit 1; }
# Replace atomically: clamd may be reading the folder.
cp daily.cud "$db_dir/.daily.cud.new"
mv -f "$db_dir/.daily.cud.new" "$db_dir/daily.cud"
