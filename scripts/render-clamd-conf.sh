#!/usr/bin/env bash
# Prints docker/clamav/clamd.conf with only the port and paths replaced, so that tests and the
# native run use the image's clamd settings (limits, alerts) unchanged. User is left out:
# supervisord starts clamd as CLAMAV_USER.
# Usage: scripts/render-clamd-conf.sh PORT DB_DIR STATE_DIR [LOG_FILE]
set -euo pipefail
port=${1:?port} db_dir=${2:?db dir} state_dir=${3:?state dir} log_file=${4:-$3/clamd.log}
conf="$(dirname "$0")/../docker/clamav/clamd.conf"
grep -Ev '^(TCPSocket|TCPAddr|DatabaseDirectory|TemporaryDirectory|LogFile|PidFile|User|LocalSocket)[[:space:]]' "$conf"
cat <<CONF
TCPSocket $port
TCPAddr 127.0.0.1
DatabaseDirectory $db_dir
TemporaryDirectory $state_dir
LogFile $log_file
PidFile $state_dir/clamd.pid
CONF
