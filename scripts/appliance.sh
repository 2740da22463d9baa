#!/usr/bin/env bash
# The native appliance, first stage: installs what is missing, builds, and runs clamd in the
# foreground with docker/clamav/clamd.conf under APPLIANCE_HOME (default ./var). Without
# definitions in CLAMAV_DB_DIR it loads the documented test signature set and says so.
# Scan with: npx scan-daemon scan FILE... (same CLAMAV_PORT). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
home=${APPLIANCE_HOME:-$PWD/var}
port=${CLAMAV_PORT:-3310}
db_dir=${CLAMAV_DB_DIR:-$home/clamav-db}

bash scripts/install-packages.sh docker/packages.txt docker/packages-test.txt
[[ -d node_modules ]] || npm install --no-audit --no-fund
npm run build

mkdir -p "$home/clamd" "$db_dir"
if ! compgen -G "$db_dir/*.c[lvu]d" >/dev/null && ! compgen -G "$db_dir/*.[hn]db" >/dev/null; then
  echo "no ClamAV definitions in $db_dir: loading the TEST definitions only (not for production)"
  bash scripts/make-test-definitions.sh "$db_dir"
fi
bash scripts/render-clamd-conf.sh "$port" "$db_dir" "$home/clamd" > "$home/clamd/clamd.conf"
echo "clamd on 127.0.0.1:$port, definitions in $db_dir"
exec clamd -c "$home/clamd/clamd.conf"
